using IscsiUp.Cli.Config;
using IscsiUp.Cli.Daemon;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up login --automatic` (iscsi-up.service at boot): asks the daemon to log in to every automatic node,
/// all at once, each with a few attempts (the network may still be coming up). A node that cannot be logged in
/// ends in one line naming it, its portal and why; the others go on, and the boot completes either way.
/// </summary>
public static class AutomaticLogin
{
    public static async Task<int> RunAsync(int attempts, NodeDefaults defaults, CancellationToken ct)
    {
        await WaitingDevices.WakeDaemonAsync(Console.Error, ct).ConfigureAwait(false);
        var problems = new StringWriter();
        var nodes = NodeRecord.LoadAll(problems).Where(n => n.Startup == NodeRecord.Automatic).ToArray();
        Console.Error.Write(problems.ToString());
        // A broken record is skipped (the others still log in) but the run is not a clean success either.
        int skipped = problems.ToString().Length > 0 ? ExitCodes.InvalidArgument : ExitCodes.Success;
        if (nodes.Length == 0)
        {
            Console.WriteLine($"iscsi-up: no automatic nodes in {NodeRecord.NodesDir}");
            return skipped;
        }
        var codes = await Task.WhenAll(nodes.Select(node => LoginAsync(node, attempts, defaults, ct))).ConfigureAwait(false);
        int up = codes.Count(code => code == ExitCodes.Success);
        Console.WriteLine($"iscsi-up: {up} of {nodes.Length} automatic node(s) logged in");
        return codes.Append(skipped).FirstOrDefault(code => code != ExitCodes.Success);
    }

    private static async Task<int> LoginAsync(NodeRecord node, int attempts, NodeDefaults defaults, CancellationToken ct)
    {
        string name = $"node {node.Target} at {node.Portal}";
        if (SessionRecord.LoadAll().Any(s => s.Target == node.Target && s.Portal == node.Portal))
        {
            Console.WriteLine($"iscsi-up: {name}: already logged in");
            return ExitCodes.Success;
        }
        for (int attempt = 1; ; attempt++)
        {
            var stderr = new StringWriter();
            int code;
            try
            {
                var options = new LoginOptions
                {
                    InitiatorName = node.Initiator, TargetName = node.Target, Chap = node.ReadChap() ?? defaults.ReadChap(discovery: false),
                    HeaderDigest = defaults.HeaderDigest, DataDigest = defaults.DataDigest, Timeout = TimeSpan.FromSeconds(defaults.LoginTimeoutSeconds),
                };
                var request = LoginRequest.From(CommonOptions.ParsePortal(node.Portal), options, node.Lun is { } lun ? [lun] : null, node.Export, defaults.Recovery) with { Timeouts = node.Timeouts, Portals = [.. node.Portals.Select(p => p.ToString())] };
                code = await DaemonClient.SendAsync(new ControlRequest(ControlRequest.LoginOp, request), startDaemon: true, Console.Out, stderr, ct)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var (message, exit) = ErrorReporter.Classify(e);
                stderr.WriteLine("iscsi-up: " + message);
                code = exit;
            }
            if (code is ExitCodes.Success or ExitCodes.SessionExists) return ExitCodes.Success;
            string reason = LastError(stderr.ToString());
            // Worth another try only when the network or the target may still be coming up.
            bool passing = code is ExitCodes.Transport or ExitCodes.TransportTimeout or ExitCodes.Login;
            if (attempt >= attempts || !passing)
            {
                Console.Error.WriteLine($"iscsi-up: {name} skipped: {reason}");
                return code;
            }
            var pause = TimeSpan.FromSeconds(Math.Min(30, 2 << attempt));
            Console.Error.WriteLine($"iscsi-up: {name}: attempt {attempt} of {attempts} failed: {reason}; next in {pause.TotalSeconds:0} s");
            await Task.Delay(pause, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The daemon's last error line without the program prefix, for one line per node.</summary>
    private static string LastError(string stderr)
    {
        string line = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "failed";
        return line.StartsWith("iscsi-up: ", StringComparison.Ordinal) ? line["iscsi-up: ".Length..] : line;
    }
}
