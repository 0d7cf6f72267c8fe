using System.Diagnostics;
using System.Text;

namespace IscsiUp.Nbd.Tests;

/// <summary>Runs a real NBD client (nbdinfo, nbdcopy, qemu-io, qemu-img, fio) with a hard timeout.</summary>
public static class ExternalTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static string Require(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p))
                return p;
        }
        throw new InvalidOperationException($"{name} is not installed (apt-get install -y libnbd-bin qemu-utils fio)");
    }

    public static async Task<Result> RunAsync(string tool, IEnumerable<string> args, TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(Require(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        // Keep libnbd/qemu output deterministic and free of debug noise.
        psi.Environment.Remove("LIBNBD_DEBUG");
        using var p = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            throw new TimeoutException($"{tool} {string.Join(' ', psi.ArgumentList)} did not finish in {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds}s; stderr: {stderr}");
        }
        p.WaitForExit();
        lock (stdout)
            lock (stderr)
                return new Result(p.ExitCode, stdout.ToString(), stderr.ToString());
    }
}
