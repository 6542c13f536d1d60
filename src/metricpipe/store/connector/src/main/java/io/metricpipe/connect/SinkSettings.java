package io.metricpipe.connect;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;

/** Settings shared by both sinks; each sink reads the keys that concern it. */
public final class SinkSettings extends AbstractConfig {
    public static final String URL = "store.url";
    public static final String USERNAME = "store.username";
    public static final String PASSWORD = "store.password";
    public static final String KIND = "record.kind";
    public static final String TIMEOUT_MS = "request.timeout.ms";
    public static final String BACKOFF_MS = "retry.backoff.ms";
    public static final String INDEX_PREFIX = "index.prefix";
    public static final String DATABASE = "influxdb.database";
    public static final String RETENTION_POLICY = "influxdb.retention.policy";
    public static final String MEASUREMENT_PREFIX = "measurement.prefix";

    public static final ConfigDef DEFINITION = new ConfigDef()
            .define(URL, Type.STRING, Importance.HIGH, "Base URL of the store, http://host:port.")
            .define(USERNAME, Type.STRING, "", Importance.MEDIUM,
                    "User for HTTP basic auth to the store; empty sends no credentials.")
            // PASSWORD: Connect and AbstractConfig show it as [hidden], in logs too.
            .define(PASSWORD, Type.PASSWORD, "", Importance.MEDIUM,
                    "Password for HTTP basic auth; give a ${file:<path>:<key>} reference.")
            .define(KIND, Type.STRING, "rollup", ConfigDef.ValidString.in("rollup", "alert"),
                    Importance.HIGH, "What the topic holds: rollup or alert records.")
            .define(TIMEOUT_MS, Type.INT, 10_000, ConfigDef.Range.atLeast(100), Importance.MEDIUM,
                    "Timeout of one request to the store.")
            .define(BACKOFF_MS, Type.LONG, 1_000L, ConfigDef.Range.atLeast(10), Importance.MEDIUM,
                    "Wait before Connect redelivers a batch the store did not take.")
            .define(INDEX_PREFIX, Type.STRING, "metrics-rollup", Importance.MEDIUM,
                    "OpenSearch: daily indices are <prefix>-YYYY.MM.DD.")
            .define(DATABASE, Type.STRING, "metrics", Importance.MEDIUM, "InfluxDB database.")
            .define(RETENTION_POLICY, Type.STRING, "", Importance.LOW,
                    "InfluxDB retention policy; empty uses the database default.")
            .define(MEASUREMENT_PREFIX, Type.STRING, "rollup_", Importance.MEDIUM,
                    "InfluxDB: measurement is <prefix><measurement>.");

    public SinkSettings(Map<String, String> props) {
        super(DEFINITION, props);
    }

    public String url() {
        String url = getString(URL);
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }

    /** The Authorization header value, or null when no user is configured. */
    public String authorization() {
        String user = getString(USERNAME);
        if (user.isEmpty()) {
            return null;
        }
        return basicAuth(user, getPassword(PASSWORD).value());
    }

    static String basicAuth(String user, String password) {
        String pair = user + ":" + password;
        return "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }

    public Records.Kind kind() {
        return Records.Kind.parse(getString(KIND));
    }
}
