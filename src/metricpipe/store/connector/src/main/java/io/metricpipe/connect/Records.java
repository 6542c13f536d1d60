package io.metricpipe.connect;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.connect.errors.DataException;

/**
 * Pure conversions from a rollup or alert record to what each store takes. No I/O,
 * so every rule here (identity, naming, escaping) is unit tested on its own.
 */
public final class Records {
    /** Statistics of a rollup: InfluxDB fields, OpenSearch doubles. */
    public static final List<String> ROLLUP_STATS =
            List.of(
                    "sum", "mean", "min", "max", "last", "stddev", "p50", "p95", "p99",
                    "rate_per_s");
    /** Numeric values of an alert. */
    public static final List<String> ALERT_STATS = List.of("value", "expected", "score");

    private static final DateTimeFormatter DAY =
            DateTimeFormatter.ofPattern("yyyy.MM.dd").withZone(ZoneOffset.UTC);

    private Records() {}

    public enum Kind {
        ROLLUP,
        ALERT;

        public static Kind parse(String text) {
            switch (text) {
                case "rollup":
                    return ROLLUP;
                case "alert":
                    return ALERT;
                default:
                    throw new IllegalArgumentException("record.kind must be rollup or alert, not " + text);
            }
        }
    }

    /** The record's value as a JSON object, or a DataException naming what it is. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> asObject(Object value) {
        if (value instanceof Map) {
            return (Map<String, Object>) value;
        }
        throw new DataException("expected a JSON object as the record value, got "
                + (value == null ? "null" : value.getClass().getSimpleName()));
    }

    public static String requireString(Map<String, Object> value, String name) {
        Object field = value.get(name);
        if (field instanceof String && !((String) field).isEmpty()) {
            return (String) field;
        }
        throw new DataException("field '" + name + "' must be a non-empty string, got " + field);
    }

    public static long requireMillis(Map<String, Object> value, String name) {
        Object field = value.get(name);
        if (field instanceof Number) {
            return ((Number) field).longValue();
        }
        throw new DataException("field '" + name + "' must be epoch milliseconds, got " + field);
    }

    /**
     * The identity of a record in every store: the Kafka key, which the producer
     * sets to series_id|window_start_ms. Without a key it is rebuilt from the
     * value, so a replayed record always lands on the same document.
     */
    public static String documentId(Object key, Map<String, Object> value) {
        if (key instanceof String && !((String) key).isEmpty()) {
            return (String) key;
        }
        return requireString(value, "series_id") + "|" + requireMillis(value, "window_start");
    }

    /** Daily index named after the window start (UTC), so replays hit the same index. */
    public static String indexName(String prefix, long windowStartMs) {
        return prefix + "-" + DAY.format(Instant.ofEpochMilli(windowStartMs));
    }

    /** The document stored in OpenSearch: the record plus an @timestamp. */
    public static Map<String, Object> document(Map<String, Object> value) {
        Map<String, Object> doc = new LinkedHashMap<>(value);
        doc.put("@timestamp", requireMillis(value, "window_start"));
        return doc;
    }

    // --- InfluxDB line protocol ------------------------------------------------------

    static String escapeMeasurement(String text) {
        return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ");
    }

    static String escapeKey(String text) {
        return text.replace("\\", "\\\\")
                .replace(",", "\\,")
                .replace("=", "\\=")
                .replace(" ", "\\ ");
    }

    static String escapeStringField(String text) {
        return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static boolean isNumber(Object value) {
        if (!(value instanceof Number)) {
            return false;
        }
        double d = ((Number) value).doubleValue();
        return !Double.isNaN(d) && !Double.isInfinite(d);
    }

    /**
     * One InfluxDB point, ms precision: measurement {prefix}{measurement}, the
     * series tags plus field, series_id and window_s as tags, the statistics as fields, the
     * window start as timestamp. Measurement, tag set and timestamp identify the
     * point, so a replay overwrites it instead of adding one.
     */
    public static String linePoint(Kind kind, String prefix, Map<String, Object> value) {
        String measurement = requireString(value, "measurement");
        long timestamp = requireMillis(value, "window_start");
        StringBuilder line = new StringBuilder(escapeMeasurement(prefix + measurement));

        // Sorted tags: InfluxDB's recommended order, and a stable line for tests.
        Map<String, String> tags = new TreeMap<>();
        Object rawTags = value.get("tags");
        if (rawTags instanceof Map) {
            for (Map.Entry<?, ?> tag : ((Map<?, ?>) rawTags).entrySet()) {
                if (tag.getValue() != null && !tag.getValue().toString().isEmpty()) {
                    tags.put(tag.getKey().toString(), tag.getValue().toString());
                }
            }
        } else if (rawTags != null) {
            throw new DataException("field 'tags' must be an object, got " + rawTags);
        }
        tags.put("field", requireString(value, "field"));
        // The series id is a tag too: the point's identity is then exactly the
        // record key (series + window start), even if two series had equal tags.
        tags.put("series_id", requireString(value, "series_id"));
        if (value.get("window_s") != null) {
            tags.put("window_s", value.get("window_s").toString());
        }
        for (Map.Entry<String, String> tag : tags.entrySet()) {
            line.append(',').append(escapeKey(tag.getKey())).append('=').append(escapeKey(tag.getValue()));
        }

        List<String> fieldParts = new java.util.ArrayList<>();
        if (kind == Kind.ROLLUP) {
            Object count = value.get("count");
            if (count != null) {
                if (!(count instanceof Number)) {
                    throw new DataException("field 'count' must be a number, got " + count);
                }
                fieldParts.add("count=" + ((Number) count).longValue() + "i");
            }
        }
        for (String stat : kind == Kind.ROLLUP ? ROLLUP_STATS : ALERT_STATS) {
            Object stat_value = value.get(stat);
            if (stat_value == null) {
                continue; // e.g. stddev of one sample
            }
            if (!isNumber(stat_value)) {
                throw new DataException("field '" + stat + "' must be a finite number, got " + stat_value);
            }
            fieldParts.add(escapeKey(stat) + "=" + ((Number) stat_value).doubleValue());
        }
        if (kind == Kind.ALERT && value.get("severity") != null) {
            fieldParts.add("severity=" + escapeStringField(value.get("severity").toString()));
        }
        if (fieldParts.isEmpty()) {
            throw new DataException("the record has no statistics to store");
        }
        line.append(' ').append(String.join(",", fieldParts)).append(' ').append(timestamp);
        return line.toString();
    }
}
