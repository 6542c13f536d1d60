// Starts one OpenSearch node through codelibs' OpenSearchRunner, which loads the
// standard modules from the classpath. Run in Java's single-file source mode by
// metricpipe: java -cp <runner jars> OpenSearchNode.java <base dir> <settings file>
//
// The runner's own main() exits without a word when the node fails to start, so
// this launcher prints the failure and exits non-zero, which the supervisor sees.
import java.io.FileInputStream;
import java.io.InputStream;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class OpenSearchNode {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: OpenSearchNode <base dir> <cluster name> <settings>");
            System.exit(2);
        }
        Properties settings = new Properties();
        try (InputStream in = new FileInputStream(args[2])) {
            settings.load(in);
        }

        OpenSearchRunner runner = new OpenSearchRunner();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
            stopped.countDown();
        }));

        try {
            runner.onBuild((index, builder) -> {
                for (String key : settings.stringPropertyNames()) {
                    builder.put(key, settings.getProperty(key));
                }
            }).build(new OpenSearchRunner.Configs()
                    .basePath(args[0])
                    .numOfNode(1)
                    .clusterName(args[1])
                    .printOnFailure());
        } catch (Throwable e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("metricpipe: OpenSearch node started");
        stopped.await();
    }
}
