using System.Diagnostics;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Runs `login` in the background without a daemon: the command starts a copy of itself with --foreground
/// in a new session (setsid), relays its output until the copy says it is ready, and returns. The copy
/// then writes to a log file under /run/iscsi-up/sessions.
/// </summary>
public static class Detached
{
    private const string ChildVariable = "ISCSI_UP_DETACHED";
    private const string ReadyLine = "\u0001ready";

    public static async Task<int> StartAsync(CancellationToken ct)
    {
        var start = SelfCommand.StartInfo(Environment.GetCommandLineArgs().Skip(1).Append("--foreground"));
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        start.Environment[ChildVariable] = "1";
        using var child = Process.Start(start) ?? throw new UserError("cannot start the session process");
        child.StandardInput.Close();
        var errors = child.StandardError.ReadToEndAsync(ct);
        while (await child.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line == ReadyLine) return ExitCodes.Success;
            Console.WriteLine(line);
        }
        await child.WaitForExitAsync(ct).ConfigureAwait(false);
        Console.Error.Write(await errors.ConfigureAwait(false));
        return child.ExitCode == 0 ? ExitCodes.Error : child.ExitCode;
    }

    /// <summary>In the detached copy: tell the parent we are ready, then stop writing to its pipes.</summary>
    public static void SignalReady()
    {
        if (Environment.GetEnvironmentVariable(ChildVariable) != "1") return;
        Tmds.Linux.LibC.setsid();
        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();
        Config.Paths.EnsurePrivateDirectory(Config.Paths.RunDir);
        Config.Paths.EnsurePrivateDirectory(Config.Paths.SessionsDir);
        var log = new StreamWriter(Path.Combine(Config.Paths.SessionsDir, $"{Environment.ProcessId}.log"), append: true) { AutoFlush = true };
        Console.SetOut(log);
        Console.SetError(log);
    }
}
