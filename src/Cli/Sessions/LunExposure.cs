using System.Net;
using System.Net.Sockets;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Kernel;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Io;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Makes the LUN reachable as the user asked: an NBD socket for userspace clients (--nbd-listen, --nbd-unix)
/// or a kernel /dev/nbdX (--nbd-device). Stopping detaches the kernel device first, then closes the sockets.
/// The NBD loops send on <paramref name="schedule"/>, the one the session's iSCSI connection follows.
/// </summary>
public sealed class LunExposure(ExportRequest request, TextWriter output, SendSchedule schedule) : IAsyncDisposable
{
    private NbdServer? _server;

    /// <summary>What the exposed LUN has served so far.</summary>
    public IoCounters Counters { get; } = new();
    private KernelNbdDevice? _device;

    /// <summary>The kernel device's index while one is attached.</summary>
    public int? KernelIndex => _device?.Index;

    /// <summary>
    /// Starts serving and returns what to show as the session's device ("" when nothing is exposed). With
    /// <paramref name="reattach"/>, the kernel device /dev/nbdN left by a previous daemon gets our socket instead
    /// of a new device being attached.
    /// </summary>
    public async Task<string> StartAsync(ScsiDisk disk, string exportName, CancellationToken ct, int? reattach = null)
    {
        if (request.NbdDevice is null && request.NbdListen is null && request.NbdUnix is null) return "";
        var export = new NbdExport(exportName, new CountingBackend(new LunBlockBackend(disk), Counters), $"LUN {disk.Lun} of {disk.Session.TargetName}");
        _server = new NbdServer(export) { Log = Report, Schedule = schedule };
        if (request.NbdListen is { } listen)
        {
            var wanted = Commands.ArgumentCheck.NbdListen(listen);
            IPEndPoint endpoint;
            try { endpoint = _server.ListenTcp(wanted); }
            catch (SocketException e)
            {
                throw new UserError($"cannot listen on {listen}: {(e.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address already in use" : e.Message)}");
            }
            await _server.StartAsync(ct).ConfigureAwait(false);
            return endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"nbd://[{endpoint.Address}]:{endpoint.Port}/{exportName}" : $"nbd://{endpoint}/{exportName}";
        }
        if (request.NbdUnix is { } path)
        {
            try { _server.ListenUnix(path); }
            catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
            {
                throw new UserError($"cannot listen on unix socket {path}: {e.Message}");
            }
            await _server.StartAsync(ct).ConfigureAwait(false);
            return $"nbd+unix:///{exportName}?socket={path}";
        }
        string backend = SessionAdoption.BackendId(disk.Session.TargetName ?? "", disk.Lun);
        try
        {
            _device = reattach is { } index
                ? await KernelNbdDevice.ReattachAsync(_server, export, index, backend, request.NbdTimeouts, ct).ConfigureAwait(false)
                : await KernelNbdDevice.AttachAsync(_server, export, request.NbdDevice!, backend, request.NbdTimeouts, ct).ConfigureAwait(false);
        }
        catch (ArgumentException e) { throw new UserError(e.Message); }
        int attached = _device.Index;
        if (await Task.Run(() => KernelNbdSysfs.Host.LimitRequestSize(attached, (long)export.Backend.MaxTransferBlocks * export.Backend.BlockSize)).ConfigureAwait(false) is null)
            output.WriteLine($"iscsi-up: could not raise {_device.DevicePath}'s largest request (queue/max_sectors_kb); it stays at the nbd driver's default");
        return _device.DevicePath;
    }

    /// <summary>
    /// The server's events go to the session's output, except "listening on": the Device line says where, and
    /// the listening message comes from the accept loop at a moment of its own (before or after the client has
    /// been answered), so it would show up or not at random.
    /// </summary>
    private void Report(string message)
    {
        if (!message.StartsWith("nbd: listening on ", StringComparison.Ordinal)) output.WriteLine($"iscsi-up: {message}");
    }

    /// <summary>
    /// When a kernel device is attached and in use (mounted, held open): stops serving it without detaching, so
    /// a successor daemon can reattach it, and returns true. Otherwise does nothing and returns false.
    /// </summary>
    public async Task<bool> HandOverIfInUseAsync()
    {
        if (_device is not { } device || !await Task.Run(() => KernelNbdSysfs.Host.IsInUse(device.Index)).ConfigureAwait(false)) return false;
        _device = null;
        await device.HandOverAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        return true;
    }

    public async Task StopAsync()
    {
        if (_device is { } device)
        {
            _device = null;
            await device.DetachAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        if (_server is { } server)
        {
            _server = null;
            await server.StopAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
