using System.CommandLine;
using IscsiUp.Cli.Config;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up daemon`: what iscsi-up.service runs at boot. Logs in to every automatic node, attaches its LUN
/// to /dev/nbdX, tells systemd it is ready (so _netdev mounts can follow), and holds the sessions until
/// SIGTERM, then detaches, flushes and logs out of each. A node that cannot be reached is reported in the
/// journal and skipped: the boot completes.
/// </summary>
public static class DaemonCommand
{
    public static Command Create()
    {
        var attempts = new Option<int>("--boot-attempts") { Description = "Login attempts per node before it is reported and skipped", DefaultValueFactory = _ => 5 };
        var command = new Command("daemon", "Hold the sessions of all automatic nodes (run by iscsi-up.service)") { attempts };
        command.SetAction(async (result, ct) =>
        {
            var nodes = NodeRecord.LoadAll().Where(n => n.Startup == NodeRecord.Automatic).ToArray();
            if (nodes.Length == 0) Console.WriteLine("iscsi-up: no automatic nodes in " + NodeRecord.NodesDir);
            var hosts = new List<(NodeRecord Node, CancellationTokenSource Stop, Task<int> Run)>();
            var readiness = new List<Task<bool>>();
            foreach (var node in nodes)
            {
                var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var task = RunNodeAsync(node, result.GetValue(attempts), ready, stop.Token);
                _ = task.ContinueWith(_ => ready.TrySetResult(false), TaskScheduler.Default);
                hosts.Add((node, stop, task));
                readiness.Add(ready.Task);
            }
            // Each node reports true once its device is usable, false when it was skipped or ended.
            int up = (await Task.WhenAll(readiness).ConfigureAwait(false)).Count(logged => logged);
            Console.WriteLine($"iscsi-up: {up} of {nodes.Length} automatic node(s) logged in");

            using var control = new ControlSocket(async request =>
            {
                var parts = request.Split(' ', 2);
                if (parts is ["logout", var id] && SessionRecord.LoadAll().FirstOrDefault(s => s.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) == id) is { } record)
                {
                    var host = hosts.FirstOrDefault(h => h.Node.Target == record.Target && h.Node.Portal == record.Portal);
                    if (host.Stop is null) return $"error: session {id} is not held by this daemon";
                    host.Stop.Cancel();
                    int code = await host.Run.ConfigureAwait(false);
                    return code == 0 ? "ok" : $"error: logout ended with code {code}";
                }
                return $"error: unknown request \"{request}\"";
            });
            control.Start(ControlSocket.DefaultPath, ct);
            SystemdNotify.Send($"READY=1\nSTATUS={up} of {nodes.Length} node(s) logged in");

            try { await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            SystemdNotify.Send("STOPPING=1");
            foreach (var host in hosts) host.Stop.Cancel();
            await Task.WhenAll(hosts.Select(h => h.Run)).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<int> RunNodeAsync(NodeRecord node, int attempts, TaskCompletionSource<bool> ready, CancellationToken stop)
    {
        var options = new LoginOptions { InitiatorName = node.Initiator, TargetName = node.Target };
        var portal = CommonOptions.ParsePortal(node.Portal);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var host = new SessionHost(portal, options, node.Lun, new ExportRequest(null, null, "auto"), Console.Out)
                {
                    ControlSocket = ControlSocket.DefaultPath,
                };
                return await host.RunAsync(() => ready.TrySetResult(true), stop).ConfigureAwait(false);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                var (message, code) = ErrorReporter.Classify(e);
                if (attempt >= attempts || code is ExitCodes.FatalLogin or ExitCodes.AuthenticationFailed or ExitCodes.InvalidArgument)
                {
                    Console.Error.WriteLine($"iscsi-up: node {node.Target} at {node.Portal} skipped: {message}");
                    ready.TrySetResult(false);
                    return code;
                }
                Console.Error.WriteLine($"iscsi-up: node {node.Target} at {node.Portal}: attempt {attempt} of {attempts} failed: {message}");
                try { await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, 2 << attempt)), stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return ExitCodes.Success; }
            }
            catch (OperationCanceledException)
            {
                return ExitCodes.Success;
            }
        }
    }
}
