using System.Net;
using System.Net.Sockets;
using IscsiUp.Initiator.Nbd;
using IscsiUp.Initiator.Nbd.Kernel;
using IscsiUp.Initiator.Scsi;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Makes the LUN reachable as the user asked: an NBD socket for userspace clients (--nbd-listen, --nbd-unix)
/// or a kernel /dev/nbdX (--nbd-device). Stopping detaches the kernel device first, then closes the sockets.
/// </summary>
public sealed class LunExposure(ExportRequest request, TextWriter output) : IAsyncDisposable
{
    private NbdServer? _server;
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
        var export = new NbdExport(exportName, new ScsiBlockBackend(disk), $"LUN {disk.Lun} of {disk.Session.TargetName}");
        _server = new NbdServer(export) { Log = message => output.WriteLine($"iscsi-up: {message}") };
        if (request.NbdListen is { } listen)
        {
            var endpoint = _server.ListenTcp(ParseEndpoint(listen));
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
        return _device.DevicePath;
    }

    private static IPEndPoint ParseEndpoint(string text)
    {
        if (!Initiator.Session.Portal.TryParse(text, out var portal, out var error) || text.IndexOf(':') < 0)
            throw new UserError(error ?? $"invalid --nbd-listen \"{text}\": expected HOST:PORT, for example 127.0.0.1:10809");
        IPAddress address = portal!.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(portal.Host, out var parsed) ? parsed
            : throw new UserError($"invalid --nbd-listen host \"{portal.Host}\": give an IP address");
        if (!IPAddress.IsLoopback(address))
            throw new UserError($"refusing to serve NBD on {address}: NBD has no authentication, so only loopback addresses and unix sockets are allowed");
        return new IPEndPoint(address, portal.Port);
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
