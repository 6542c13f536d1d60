package io.metricpipe.connect;

final class Version {
    static final String VERSION = "0.2.0";

    private Version() {}
}
