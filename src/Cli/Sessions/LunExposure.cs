using System.Net;
using System.Net.Sockets;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Kernel;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Io;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Makes the session's LUNs reachable as the user asked: one NBD socket for userspace clients (--nbd-listen,
/// --nbd-unix) offering one export per LUN (lunN), or one kernel /dev/nbdX per LUN (--nbd-device). Stopping
/// detaches the kernel devices first, then closes the sockets. The NBD loops send on <paramref name="schedule"/>,
/// the one the session's iSCSI connection follows.
/// </summary>
public sealed class LunExposure(ExportRequest request, TextWriter output, SendSchedule schedule) : IAsyncDisposable
{
    private NbdServer? _server;
    private readonly Dictionary<int, IoCounters> _counters = [];
    private readonly List<(int Lun, KernelNbdDevice Device)> _devices = [];
    private readonly Dictionary<int, LunBlockBackend> _backends = [];
    /// <summary>What a LUN's export is called for the user on the socket (its URL), once serving on one.</summary>
    private Func<string, string>? _socketUrl;

    private bool Exposing => request.NbdDevice is not null || request.NbdListen is not null || request.NbdUnix is not null;

    /// <summary>What the exposed LUN <paramref name="lun"/> has served so far (nothing for a LUN not exposed).</summary>
    public IoCounters Counters(int lun)
    {
        lock (_counters) return _counters.TryGetValue(lun, out var counters) ? counters : new IoCounters();
    }

    /// <summary>The name a LUN's export has on the NBD socket (what `nbdinfo --list` shows).</summary>
    public static string ExportName(int lun) => $"lun{lun}";

    /// <summary>
    /// Starts serving and returns what to show as each disk's device, in the order of <paramref name="disks"/>
    /// ("" when nothing is exposed). A LUN in <paramref name="reattach"/> gets the kernel device /dev/nbdN a
    /// previous daemon left instead of a new one.
    /// </summary>
    public async Task<IReadOnlyList<string>> StartAsync(IReadOnlyList<ScsiDisk> disks, CancellationToken ct, IReadOnlyDictionary<int, int>? reattach = null)
    {
        if (!Exposing) return [.. disks.Select(_ => "")];
        var exports = disks.Select(ExportOf).ToList();
        _server = new NbdServer(exports) { Log = Report, Schedule = schedule };
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
            string host = endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : endpoint.ToString();
            _socketUrl = name => $"nbd://{host}/{name}";
            return [.. exports.Select(export => _socketUrl(export.Name))];
        }
        if (request.NbdUnix is { } path)
        {
            try { _server.ListenUnix(path); }
            catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
            {
                throw new UserError($"cannot listen on unix socket {path}: {e.Message}");
            }
            await _server.StartAsync(ct).ConfigureAwait(false);
            _socketUrl = name => $"nbd+unix:///{name}?socket={path}";
            return [.. exports.Select(export => _socketUrl(export.Name))];
        }
        var devices = new List<string>();
        for (int i = 0; i < disks.Count; i++)
            devices.Add(await AttachAsync(disks[i], exports[i], reattach?.TryGetValue(disks[i].Lun, out int index) == true ? index : null, ct).ConfigureAwait(false));
        return devices;
    }

    /// <summary>The export serving <paramref name="disk"/>, counting its I/O.</summary>
    private NbdExport ExportOf(ScsiDisk disk)
    {
        var counters = new IoCounters();
        var backend = new LunBlockBackend(disk);
        lock (_counters)
        {
            _counters[disk.Lun] = counters;
            _backends[disk.Lun] = backend;
        }
        return new NbdExport(ExportName(disk.Lun), new CountingBackend(backend, counters), $"LUN {disk.Lun} of {disk.Session.TargetName}");
    }

    /// <summary>
    /// Exposes a LUN the target added while the session runs: a new export on the socket, or a new kernel
    /// device. Returns what to show as its device ("" when nothing is exposed).
    /// </summary>
    public async Task<string> AddAsync(ScsiDisk disk, CancellationToken ct)
    {
        if (!Exposing || _server is not { } server) return "";
        var export = ExportOf(disk);
        if (_socketUrl is { } url)
        {
            server.AddExport(export);
            return url(export.Name);
        }
        server.AddExport(export); // a kernel device is served through the server's exports as well
        try { return await AttachAsync(disk, export, null, ct).ConfigureAwait(false); }
        catch
        {
            server.RemoveExport(export.Name);
            lock (_counters) _backends.Remove(disk.Lun);
            throw;
        }
    }

    /// <summary>
    /// Takes away a LUN the target removed: its requests fail with EIO from now on, its export goes, its kernel
    /// device is detached (the kernel fails what a filesystem still sends). Returns where the device was mounted, if it was.
    /// </summary>
    public async Task<string?> RemoveAsync(int lun)
    {
        lock (_counters)
        {
            if (_backends.Remove(lun, out var backend)) backend.Retire();
        }
        _server?.RemoveExport(ExportName(lun));
        (int Lun, KernelNbdDevice Device)[] gone;
        lock (_devices)
        {
            gone = [.. _devices.Where(d => d.Lun == lun)];
            _devices.RemoveAll(d => d.Lun == lun);
        }
        string? mountedAt = null;
        foreach (var (_, device) in gone)
        {
            mountedAt ??= MountPoint.Of(device.DevicePath);
            await device.DetachAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        return mountedAt;
    }

    /// <summary>
    /// The LUN's capacity changed: a kernel device is told its new size (NBD reconfigure), an export on the
    /// socket already offers it to new connections (its size is read from the LUN).
    /// </summary>
    public async Task ResizeAsync(ScsiDisk disk)
    {
        KernelNbdDevice[] attached;
        lock (_devices) attached = [.. _devices.Where(d => d.Lun == disk.Lun).Select(d => d.Device)];
        foreach (var device in attached)
            await device.ResizeAsync((ulong)disk.CapacityBytes, SessionAdoption.BackendId(disk.Session.TargetName ?? "", disk.Lun)).ConfigureAwait(false);
    }

    private async Task<string> AttachAsync(ScsiDisk disk, NbdExport export, int? reattach, CancellationToken ct)
    {
        string backend = SessionAdoption.BackendId(disk.Session.TargetName ?? "", disk.Lun);
        KernelNbdDevice device;
        try
        {
            device = reattach is { } index
                ? await KernelNbdDevice.ReattachAsync(_server!, export, index, backend, request.NbdTimeouts, ct).ConfigureAwait(false)
                : await KernelNbdDevice.AttachAsync(_server!, export, request.NbdDevice!, backend, request.NbdTimeouts, ct).ConfigureAwait(false);
        }
        catch (ArgumentException e) { throw new UserError(e.Message); }
        lock (_devices) _devices.Add((disk.Lun, device));
        int attached = device.Index;
        if (await Task.Run(() => KernelNbdSysfs.Host.LimitRequestSize(attached, (long)export.Backend.MaxTransferBlocks * export.Backend.BlockSize)).ConfigureAwait(false) is null)
            output.WriteLine($"iscsi-up: could not raise {device.DevicePath}'s largest request (queue/max_sectors_kb); it stays at the nbd driver's default");
        return device.DevicePath;
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
    /// Each kernel device that is attached and in use (mounted, held open) stops being served without being
    /// detached, so a successor daemon can reattach it. Returns the LUNs so left (none when no device is in use).
    /// </summary>
    public async Task<IReadOnlyList<int>> HandOverIfInUseAsync()
    {
        (int Lun, KernelNbdDevice Device)[] attached;
        lock (_devices) attached = [.. _devices];
        var left = new List<int>();
        foreach (var (lun, device) in attached)
        {
            if (!await Task.Run(() => KernelNbdSysfs.Host.IsInUse(device.Index)).ConfigureAwait(false)) continue;
            lock (_devices) _devices.Remove((lun, device));
            await device.HandOverAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            left.Add(lun);
        }
        return left;
    }

    public async Task StopAsync()
    {
        (int Lun, KernelNbdDevice Device)[] attached;
        lock (_devices)
        {
            attached = [.. _devices];
            _devices.Clear();
        }
        foreach (var (_, device) in attached) await device.DetachAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        if (_server is { } server)
        {
            _server = null;
            await server.StopAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
