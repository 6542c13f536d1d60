package io.metricpipe.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Test;

class SinkSettingsTest {
    private static final String SECRET = "s3cret-\\\"x'y-é";

    @Test
    void noUserSendsNoAuthorization() {
        assertNull(new SinkSettings(Map.of("store.url", "http://127.0.0.1:1")).authorization());
    }

    @Test
    void userAndPasswordBecomeABasicAuthHeaderInUtf8() {
        SinkSettings settings = new SinkSettings(Map.of(
                "store.url", "http://127.0.0.1:1",
                "store.username", "metricpipe",
                "store.password", SECRET));
        String header = settings.authorization();
        String decoded = new String(
                Base64.getDecoder().decode(header.substring("Basic ".length())), StandardCharsets.UTF_8);
        assertEquals("metricpipe:" + SECRET, decoded);
    }

    @Test
    void thePasswordIsAPasswordTypeAndNeverShown() {
        assertEquals(ConfigDef.Type.PASSWORD,
                SinkSettings.DEFINITION.configKeys().get(SinkSettings.PASSWORD).type);
        SinkSettings settings = new SinkSettings(Map.of(
                "store.url", "http://127.0.0.1:1",
                "store.username", "metricpipe",
                "store.password", SECRET));
        assertFalse(settings.values().toString().contains("s3cret"));
        assertFalse(settings.originalsStrings().isEmpty());
    }
}
