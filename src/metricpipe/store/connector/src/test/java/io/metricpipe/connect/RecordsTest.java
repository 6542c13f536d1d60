package io.metricpipe.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.Test;

class RecordsTest {
    private static Map<String, Object> rollup() {
        Map<String, Object> value = new LinkedHashMap<>();
        value.put("series_id", "abc");
        value.put("measurement", "cpu");
        value.put("tags", Map.of("host", "h1", "cpu", "cpu-total"));
        value.put("field", "usage_idle");
        value.put("window_start", 1764849600000L);
        value.put("window_end", 1764849610000L);
        value.put("window_s", 10);
        value.put("count", 5);
        value.put("sum", 10.0);
        value.put("mean", 2.0);
        value.put("min", 1);
        value.put("max", 3.5);
        value.put("last", 2.5);
        value.put("stddev", null);
        value.put("p50", 2.0);
        value.put("p95", 3.0);
        value.put("p99", 3.4);
        return value;
    }

    @Test
    void identityIsTheKeyOrRebuiltFromTheValue() {
        assertEquals("abc|1764849600000", Records.documentId("abc|1764849600000", rollup()));
        assertEquals("abc|1764849600000", Records.documentId(null, rollup()));
    }

    @Test
    void dailyIndexFollowsTheWindowStartInUtc() {
        assertEquals("metrics-rollup-2025.12.04", Records.indexName("metrics-rollup", 1764849600000L));
        assertEquals("m-2025.12.03", Records.indexName("m", 1764806399999L));
    }

    @Test
    void rollupBecomesOnePointWithSortedTagsAndMsTimestamp() {
        String line = Records.linePoint(Records.Kind.ROLLUP, "rollup_", rollup());
        assertEquals("rollup_cpu,cpu=cpu-total,field=usage_idle,host=h1,series_id=abc,window_s=10 "
                + "count=5i,sum=10.0,mean=2.0,min=1.0,max=3.5,last=2.5,p50=2.0,p95=3.0,p99=3.4 "
                + "1764849600000", line);
    }

    @Test
    void alertKeepsSeverityAsStringField() {
        Map<String, Object> value = rollup();
        value.put("value", 99.5);
        value.put("expected", 50);
        value.put("score", 4.2);
        value.put("severity", "critical");
        String line = Records.linePoint(Records.Kind.ALERT, "alert_", value);
        assertTrue(line.startsWith("alert_cpu,"), line);
        assertTrue(line.contains(" value=99.5,expected=50.0,score=4.2,severity=\"critical\" "), line);
    }

    @Test
    void specialCharactersAreEscaped() {
        Map<String, Object> value = rollup();
        value.put("measurement", "disk io");
        value.put("tags", Map.of("path", "/a b,c=d"));
        String line = Records.linePoint(Records.Kind.ROLLUP, "rollup_", value);
        assertTrue(line.startsWith("rollup_disk\\ io,field=usage_idle,path=/a\\ b\\,c\\=d,series_id=abc,"), line);
    }

    @Test
    void nonNumericStatisticIsRejected() {
        Map<String, Object> value = rollup();
        value.put("mean", "not-a-number");
        DataException error = assertThrows(DataException.class,
                () -> Records.linePoint(Records.Kind.ROLLUP, "rollup_", value));
        assertTrue(error.getMessage().contains("mean"));
    }

    @Test
    void missingWindowStartIsRejected() {
        Map<String, Object> value = new HashMap<>(rollup());
        value.remove("window_start");
        assertThrows(DataException.class, () -> Records.documentId(null, value));
        assertThrows(DataException.class, () -> Records.asObject("text"));
    }

    @Test
    void documentHasTimestamp() {
        assertEquals(1764849600000L, Records.document(rollup()).get("@timestamp"));
    }

    @Test
    void bulkBodyCarriesExplicitIdsAndItemsAreRead() {
        SinkRecord record = new SinkRecord("t", 0, null, "k", null, rollup(), 7);
        var doc = new StoreSinkTask.Prepared(record, "abc|1", "{\"a\":1}", "metrics-rollup-2025.12.04");
        assertEquals("{\"index\":{\"_index\":\"metrics-rollup-2025.12.04\",\"_id\":\"abc|1\"}}\n{\"a\":1}\n",
                Bulk.body(List.of(doc)));

        List<Bulk.Item> items = Bulk.parse("{\"errors\":true,\"items\":["
                + "{\"index\":{\"status\":201}},"
                + "{\"index\":{\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\","
                + "\"reason\":\"failed to parse field [mean]\"}}}]}", 2);
        assertEquals(201, items.get(0).status());
        assertEquals(400, items.get(1).status());
        assertTrue(items.get(1).error().startsWith("mapper_parsing_exception"));
    }
}
