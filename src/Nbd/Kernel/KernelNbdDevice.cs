using System.Diagnostics;
using System.Net.Sockets;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace IscsiUp.Nbd.Kernel;

/// <summary>
/// A kernel /dev/nbdX served by this process: one end of a socketpair goes to the kernel's nbd driver through
/// the generic netlink CONNECT command (the kernel is already in the transmission phase, so no handshake),
/// the other end is served by our <see cref="NbdServer"/>. Detach sends DISCONNECT; the kernel then sends
/// NBD_CMD_DISC and the device goes away.
/// </summary>
public sealed class KernelNbdDevice : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(15);
    private readonly Task _serving;
    private readonly CancellationTokenSource _stop;
    private readonly CancellationTokenSource _drain;
    private int _detached;

    private KernelNbdDevice(int index, Task serving, CancellationTokenSource stop, CancellationTokenSource drain)
    {
        Index = index;
        _serving = serving;
        _stop = stop;
        _drain = drain;
    }

    public int Index { get; }
    public string DevicePath => $"/dev/nbd{Index}";

    /// <summary>
    /// Attaches <paramref name="export"/> to a kernel device: "auto" lets the kernel pick a free one,
    /// "/dev/nbdN" asks for that one. Returns once the device is connected and its node exists. The device
    /// survives the loss of our socket for <see cref="KernelNbdTimeouts.DeadConnectionSeconds"/>: a successor
    /// hands it a new one with <see cref="ReattachAsync"/>.
    /// </summary>
    public static async Task<KernelNbdDevice> AttachAsync(NbdServer server, NbdExport export, string device, string backendId,
        KernelNbdTimeouts timeouts, CancellationToken ct)
    {
        int? wanted = ParseDevice(device);
        var result = await ConfigureAsync(server, export, wanted, backendId, timeouts, reattach: false, ct).ConfigureAwait(false);
        try { await result.WaitReadyAsync(ct).ConfigureAwait(false); }
        catch
        {
            await result.DetachAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            throw;
        }
        return result;
    }

    /// <summary>
    /// Hands /dev/nbd<paramref name="index"/>, left by a daemon that is gone, a fresh socket served by us
    /// (NBD_CMD_RECONFIGURE). The kernel checks <paramref name="backendId"/> against the one the device was
    /// created with; the requests that waited for a socket go out on ours.
    /// </summary>
    public static Task<KernelNbdDevice> ReattachAsync(NbdServer server, NbdExport export, int index, string backendId,
        KernelNbdTimeouts timeouts, CancellationToken ct) =>
        ConfigureAsync(server, export, index, backendId, timeouts, reattach: true, ct);

    private static async Task<KernelNbdDevice> ConfigureAsync(NbdServer server, NbdExport export, int? wanted, string backendId,
        KernelNbdTimeouts timeouts, bool reattach, CancellationToken ct)
    {
        if (timeouts.Problem is { } problem) throw new ArgumentException(problem);
        string device = wanted is { } w ? $"/dev/nbd{w}" : "an nbd device";
        // modprobe and netlink block this thread; the caller may be a socket event thread that our own NBD
        // connection needs, so they run on the thread pool.
        await Task.Run(EnsureDriver, ct).ConfigureAwait(false);
        using var netlink = new GenericNetlinkSocket();
        ushort family = netlink.ResolveFamily(NbdNetlink.Family)
            ?? throw new NbdUnavailableException("the kernel's nbd driver has no netlink interface (kernel older than 4.12?); use --nbd-listen or --nbd-unix instead");

        var (ours, kernelFd) = SocketPair();
        var stop = new CancellationTokenSource();
        var drain = new CancellationTokenSource();
        Task serving = server.ServeTransmissionAsync(ours, export, stop.Token, drain.Token); // serve before CONNECT: the kernel reads the partition table at once
        try
        {
            var request = new NetlinkMessage(family, reattach ? NbdNetlink.CmdReconfigure : NbdNetlink.CmdConnect, NbdNetlink.Version, netlink.NextSequence());
            if (wanted is { } index) request.U32(NbdNetlink.AttrIndex, (uint)index);
            if (!reattach)
                request.U64(NbdNetlink.AttrSizeBytes, export.Size)
                    .U64(NbdNetlink.AttrBlockSizeBytes, export.MinimumBlockSize)
                    .U64(NbdNetlink.AttrServerFlags, export.TransmissionFlags);
            // DESTROY_ON_DISCONNECT only acts on an explicit DISCONNECT (our detach): the device node goes away
            // then. Losing the socket is not a disconnect; the device waits for a new one (DEAD_CONN_TIMEOUT).
            request.U64(NbdNetlink.AttrClientFlags, NbdNetlink.ClientFlagDestroyOnDisconnect)
                .U64(NbdNetlink.AttrTimeout, (ulong)timeouts.RequestSeconds)
                .U64(NbdNetlink.AttrDeadConnTimeout, (ulong)timeouts.DeadConnectionSeconds)
                .String(NbdNetlink.AttrBackendIdentifier, backendId)
                .BeginNested(NbdNetlink.AttrSockets)
                    .BeginNested(NbdNetlink.SockItem).U32(NbdNetlink.SockFd, (uint)kernelFd).EndNested()
                .EndNested();
            List<byte[]> replies;
            try
            {
                byte[] message = request.ToArray();
                replies = await Task.Run(() => netlink.Exchange(message), ct).ConfigureAwait(false);
            }
            catch (NetlinkException e)
            {
                string reason = e.Errno == EBUSY ? $"{device} is already in use"
                    : e.Errno == EPERM || e.Errno == EACCES ? "attaching an nbd device needs root (CAP_SYS_ADMIN)"
                    : e.Errno == EINVAL && reattach ? $"the kernel refused to give {device} a new socket (not connected any more, or another backend): {e.Message}"
                    : e.Errno == EINVAL ? $"the kernel refused the nbd configuration for {device}: {e.Message}"
                    : $"nbd {(reattach ? "RECONFIGURE" : "CONNECT")} failed: {e.Message}";
                throw new NbdUnavailableException(reason, e);
            }
            uint? reported = replies.Select(r => new NetlinkAttributes(r).U32(NbdNetlink.AttrIndex)).FirstOrDefault(i => i is not null);
            int attached = wanted ?? (reported is { } i ? (int)i
                : throw new NbdUnavailableException("the kernel attached an nbd device but did not say which"));
            close(kernelFd);
            kernelFd = -1;
            return new KernelNbdDevice(attached, serving, stop, drain);
        }
        catch
        {
            if (kernelFd >= 0) close(kernelFd);
            stop.Cancel();
            ours.Dispose();
            throw;
        }
    }

    private static int? ParseDevice(string device)
    {
        if (device == "auto") return null;
        if (device.StartsWith("/dev/nbd", StringComparison.Ordinal) && int.TryParse(device.AsSpan(8), out int index) && index >= 0)
            return index;
        throw new ArgumentException($"invalid nbd device \"{device}\": use auto or /dev/nbdN");
    }

    /// <summary>Loads the nbd module when it is not there yet; says clearly when the kernel has none.</summary>
    public static void EnsureDriver()
    {
        if (Directory.Exists("/sys/module/nbd")) return;
        string detail;
        try
        {
            using var modprobe = Process.Start(new ProcessStartInfo("modprobe", "nbd") { RedirectStandardError = true, UseShellExecute = false })!;
            detail = modprobe.StandardError.ReadToEnd().Trim();
            modprobe.WaitForExit(10_000);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            detail = $"modprobe: {e.Message}";
        }
        if (!Directory.Exists("/sys/module/nbd"))
            throw new NbdUnavailableException($"this kernel has no nbd driver ({(detail.Length > 0 ? detail : "modprobe nbd did not load it")}); " +
                                              "install the kernel's nbd module, or serve userspace clients with --nbd-listen or --nbd-unix");
    }

    private static unsafe (Socket Ours, int KernelFd) SocketPair()
    {
        int* fds = stackalloc int[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            throw new IOException($"socketpair failed: errno {errno}");
        var ours = new Socket(new SafeSocketHandle((IntPtr)fds[0], ownsHandle: true));
        return (ours, fds[1]);
    }

    /// <summary>Waits for /sys/block/nbdX/pid (the device is connected) and the /dev node.</summary>
    private async Task WaitReadyAsync(CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyTimeout)
        {
            if (File.Exists($"/sys/block/nbd{Index}/pid") && File.Exists(DevicePath)) return;
            if (_serving.IsCompleted) throw new NbdUnavailableException($"{DevicePath} stopped before it became ready");
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
        throw new NbdUnavailableException($"{DevicePath} did not become ready within {ReadyTimeout.TotalSeconds:0} s");
    }

    /// <summary>Disconnects the device (the kernel flushes and sends NBD_CMD_DISC) and waits for serving to end.</summary>
    public async Task DetachAsync(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _detached, 1) != 0) return;
        try
        {
            await DisconnectAsync(Index).ConfigureAwait(false);
            await _serving.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException) { }
        catch (NetlinkException) { }
        finally
        {
            await EndServingAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Leaves the device to a successor daemon instead of detaching it: stops taking requests, answers those
    /// already taken, then closes our socket. The kernel keeps the device and holds new I/O for the
    /// dead-connection timeout. Requests it sent that we never read are sent again after the request timeout.
    /// </summary>
    public async Task HandOverAsync(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _detached, 1) != 0) return;
        _drain.Cancel();
        try { await _serving.WaitAsync(timeout).ConfigureAwait(false); }
        catch (TimeoutException) { }
        finally
        {
            await EndServingAsync().ConfigureAwait(false);
        }
    }

    private async Task EndServingAsync()
    {
        _stop.Cancel();
        try { await _serving.ConfigureAwait(false); } catch { /* the connection is gone either way */ }
        _stop.Dispose();
        _drain.Dispose();
    }

    /// <summary>
    /// Tells the kernel the device now has <paramref name="sizeBytes"/> bytes (NBD_CMD_RECONFIGURE with
    /// NBD_ATTR_SIZE_BYTES) while it stays connected: the block device's capacity changes at once, so a
    /// filesystem on it can grow (xfs_growfs, resize2fs).
    /// </summary>
    public async Task ResizeAsync(ulong sizeBytes, string backendId)
    {
        using var netlink = new GenericNetlinkSocket();
        ushort family = netlink.ResolveFamily(NbdNetlink.Family)
            ?? throw new NbdUnavailableException("the kernel's nbd driver has no netlink interface");
        byte[] message = ResizeMessage(family, netlink.NextSequence(), Index, backendId, sizeBytes).ToArray();
        try { await Task.Run(() => netlink.Exchange(message)).ConfigureAwait(false); } // blocks: off the socket threads
        catch (NetlinkException e) { throw new NbdUnavailableException($"the kernel refused to resize {DevicePath}: {e.Message}", e); }
    }

    /// <summary>The RECONFIGURE request that resizes /dev/nbd<paramref name="index"/>; the kernel wants the backend it was created with.</summary>
    public static NetlinkMessage ResizeMessage(ushort family, uint sequence, int index, string backendId, ulong sizeBytes) =>
        new NetlinkMessage(family, NbdNetlink.CmdReconfigure, NbdNetlink.Version, sequence)
            .U32(NbdNetlink.AttrIndex, (uint)index)
            .String(NbdNetlink.AttrBackendIdentifier, backendId)
            .U64(NbdNetlink.AttrSizeBytes, sizeBytes);

    /// <summary>NBD_CMD_DISCONNECT of /dev/nbd<paramref name="index"/>: the kernel fails what waits and detaches it.</summary>
    public static async Task DisconnectAsync(int index)
    {
        using var netlink = new GenericNetlinkSocket();
        if (netlink.ResolveFamily(NbdNetlink.Family) is not { } family) return;
        var request = new NetlinkMessage(family, NbdNetlink.CmdDisconnect, NbdNetlink.Version, netlink.NextSequence())
            .U32(NbdNetlink.AttrIndex, (uint)index);
        byte[] message = request.ToArray();
        await Task.Run(() => netlink.Exchange(message)).ConfigureAwait(false); // blocks: off the socket threads
    }

    public ValueTask DisposeAsync() => new(DetachAsync(TimeSpan.FromSeconds(30)));
}
