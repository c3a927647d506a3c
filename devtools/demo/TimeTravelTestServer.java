// The Temporal time-skipping test server (the pinned io.temporal:temporal-test-server on the
// classpath), started with its clock set to a chosen moment instead of the real time.
//
// Same arguments as io.temporal.testserver.TestServer (<port> [--enable-time-skipping]),
// plus --start-millis <epoch millis>. TestServer.main always starts the clock at "now";
// TestServicesStarter(lockTimeSkipping, initialTimeMillis) is the constructor it calls, with
// 0 for "now". `lifecycle demo seed` runs this file with `java` (source-file mode) so the
// history it seeds ends at the real current time instead of lying months ahead of it.

import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.temporal.internal.testservice.GRPCServerHelper;
import io.temporal.internal.testservice.TestServicesStarter;

public class TimeTravelTestServer {
  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("Usage: <port> [--enable-time-skipping] [--start-millis <epoch ms>]");
      System.exit(2);
    }
    if (args[0].equals("--check")) {
      // Compiling this file against the classpath is the check: the test server is there.
      System.out.println("ok " + TestServicesStarter.class.getName());
      return;
    }
    int port = Integer.parseInt(args[0]);
    boolean timeSkipping = false;
    long startMillis = 0L;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equalsIgnoreCase("--enable-time-skipping")) {
        timeSkipping = true;
      } else if (args[i].equals("--start-millis") && i + 1 < args.length) {
        startMillis = Long.parseLong(args[++i]);
      } else {
        System.err.println("Unknown argument " + args[i]);
        System.exit(2);
      }
    }
    // Like TestServer: time skipping starts locked unless asked; the SDK unlocks it.
    TestServicesStarter services = new TestServicesStarter(!timeSkipping, startMillis);
    ServerBuilder<?> builder = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create());
    GRPCServerHelper.registerServicesAndHealthChecks(services.getServices(), builder);
    Server server = builder.build().start();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.shutdownNow();
                  services.close();
                }));
    server.awaitTermination();
  }
}
