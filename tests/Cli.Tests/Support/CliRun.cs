using System.Diagnostics;

namespace IscsiUp.Cli.Tests.Support;

/// <summary>The outcome of one iscsi-up invocation.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>
/// Runs the real iscsi-up program (the built dll under `dotnet`) as a separate process with its own
/// configuration and runtime directories, so tests see exactly what an administrator sees.
/// </summary>
public sealed class CliRun : IDisposable
{
    public CliRun()
    {
        Root = Directory.CreateTempSubdirectory("iscsi-up-cli-").FullName;
        RunDir = Path.Combine(Root, "run");
        ConfigDir = Path.Combine(Root, "etc");
    }

    public string Root { get; }
    public string RunDir { get; }
    public string ConfigDir { get; }

    public static string Program => Path.Combine(AppContext.BaseDirectory, "iscsi-up.dll");

    public ProcessStartInfo StartInfo(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Program);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["ISCSI_UP_RUN_DIR"] = RunDir;
        start.Environment["ISCSI_UP_CONFIG_DIR"] = ConfigDir;
        start.Environment["ISCSI_UP_OPEN_ISCSI_NAME_FILE"] = Path.Combine(Root, "no-open-iscsi-name");
        start.Environment.Remove("ISCSI_UP_DEBUG");
        return start;
    }

    public async Task<CliResult> RunAsync(params string[] args) => await RunAsync(TimeSpan.FromSeconds(60), args);

    public async Task<CliResult> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"iscsi-up {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The pid of the daemon this run's commands started, or 0 when none runs.</summary>
    public int DaemonPid => File.Exists(Path.Combine(RunDir, "daemon.pid")) && int.TryParse(File.ReadAllText(Path.Combine(RunDir, "daemon.pid")).Trim(), out int pid) ? pid : 0;

    /// <summary>What the daemon started by this run's commands logged.</summary>
    public string DaemonLog => File.Exists(Path.Combine(RunDir, "daemon.log")) ? File.ReadAllText(Path.Combine(RunDir, "daemon.log")) : "";

    /// <summary>Writes a CHAP secret file readable by its owner only, as an administrator would.</summary>
    public string SecretFile(string name, string secret)
    {
        string path = Path.Combine(Root, name);
        File.WriteAllText(path, secret + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>The daemon and every session process started by this run are stopped, whatever the test did.</summary>
    public void Dispose()
    {
        if (DaemonPid is > 0 and var daemon)
        {
            try { Process.GetProcessById(daemon).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        }
        var sessions = Path.Combine(RunDir, "sessions");
        if (Directory.Exists(sessions))
        {
            foreach (var file in Directory.EnumerateFiles(sessions, "*.session"))
            {
                var pid = File.ReadLines(file).FirstOrDefault(l => l.StartsWith("pid="))?[4..];
                if (int.TryParse(pid, out int id))
                {
                    try { Process.GetProcessById(id).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
                }
            }
        }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
