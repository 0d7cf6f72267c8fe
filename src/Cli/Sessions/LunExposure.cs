using IscsiUp.Initiator.Scsi;

namespace IscsiUp.Cli.Sessions;

/// <summary>Makes the LUN reachable as the user asked: an NBD socket for userspace clients, or a kernel /dev/nbdX.</summary>
public sealed class LunExposure(ExportRequest request, TextWriter output) : IAsyncDisposable
{
    /// <summary>Starts serving and returns what to show as the session's device ("" when nothing is exposed).</summary>
    public Task<string> StartAsync(ScsiDisk disk, CancellationToken ct)
    {
        if (request.NbdDevice is not null)
            throw new UserError("kernel attach (--nbd-device) is not available in this build; use --nbd-listen HOST:PORT or --nbd-unix PATH");
        if (request.NbdListen is not null || request.NbdUnix is not null)
            throw new UserError("the NBD export is not available in this build");
        _ = output;
        return Task.FromResult("");
    }

    public Task StopAsync() => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
