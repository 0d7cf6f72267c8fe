using System.Diagnostics;
using IscsiUp.Nbd;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Nbd.Tests;

namespace IscsiUp.Cli.Tests.Support;

/// <summary>
/// `iscsi-up login --foreground --nbd-unix` against a <see cref="HostileTarget"/>, with a raw NBD client on the
/// export once the LUN is up. Disposing kills the program if a test left it running.
/// </summary>
internal sealed class ForegroundSession : IAsyncDisposable
{
    private ForegroundSession(Process process, Task<string> stderr, RawNbdClient client)
    {
        Process = process;
        Stderr = stderr;
        Client = client;
    }

    public Process Process { get; }
    /// <summary>Everything the program writes to stderr, once it has exited.</summary>
    public Task<string> Stderr { get; }
    public RawNbdClient Client { get; }

    public static async Task<ForegroundSession> StartAsync(CliRun cli, HostileTarget target, params string[] options)
    {
        string socket = Path.Combine(cli.Root, "lun.sock");
        var process = Process.Start(cli.StartInfo(["login", "-T", HostileTarget.Name, "-p", $"127.0.0.1:{target.Port}",
            "-I", "iqn.2026-11.org.iscsi-up.test:foreground", "--foreground", "--nbd-unix", socket, .. options]))!;
        var ready = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) => { if (e.Data?.StartsWith("LUN 0:") == true) ready.TrySetResult(); };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await Task.WhenAny(ready.Task, process.WaitForExitAsync()).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(ready.Task.IsCompleted, $"login failed: {(process.HasExited ? await stderr : "")}");
            await Wait.UntilAsync(() => File.Exists(socket), "the NBD socket");
            var client = await RawNbdClient.ConnectUnixAsync(socket);
            await client.StartHandshakeAsync();
            Assert.Equal(NbdConstants.RepAck, (await client.GoAsync("lun0")).Final);
            return new ForegroundSession(process, stderr, client);
        }
        catch
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    /// <summary>SIGTERM, as systemd or Ctrl-C would stop it; waits for the exit (at most <paramref name="within"/>).</summary>
    public async Task<(int ExitCode, string[] Errors)> TerminateAsync(TimeSpan within)
    {
        Assert.Equal(0, Tmds.Linux.LibC.kill(Process.Id, Tmds.Linux.LibC.SIGTERM));
        await Process.WaitForExitAsync().WaitAsync(within);
        return (Process.ExitCode, (await Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }
}
