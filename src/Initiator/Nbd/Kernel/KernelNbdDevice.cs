using System.Diagnostics;
using System.Net.Sockets;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace IscsiUp.Initiator.Nbd.Kernel;

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
    private int _detached;

    private KernelNbdDevice(int index, Task serving, CancellationTokenSource stop)
    {
        Index = index;
        _serving = serving;
        _stop = stop;
    }

    public int Index { get; }
    public string DevicePath => $"/dev/nbd{Index}";

    /// <summary>
    /// Attaches <paramref name="export"/> to a kernel device: "auto" lets the kernel pick a free one,
    /// "/dev/nbdN" asks for that one. Returns once the device is connected and its node exists.
    /// </summary>
    public static async Task<KernelNbdDevice> AttachAsync(NbdServer server, NbdExport export, string device, string backendId, CancellationToken ct)
    {
        int? wanted = ParseDevice(device);
        // modprobe and netlink block this thread; the caller may be a socket event thread that our own NBD
        // connection needs, so they run on the thread pool.
        await Task.Run(EnsureDriver, ct).ConfigureAwait(false);
        using var netlink = new GenericNetlinkSocket();
        ushort family = netlink.ResolveFamily(NbdNetlink.Family)
            ?? throw new NbdUnavailableException("the kernel's nbd driver has no netlink interface (kernel older than 4.12?); use --nbd-listen or --nbd-unix instead");

        var (ours, kernelFd) = SocketPair();
        var stop = new CancellationTokenSource();
        Task serving = server.ServeTransmissionAsync(ours, export, stop.Token); // serve before CONNECT: the kernel reads the partition table at once
        try
        {
            var request = new NetlinkMessage(family, NbdNetlink.CmdConnect, NbdNetlink.Version, netlink.NextSequence());
            if (wanted is { } index) request.U32(NbdNetlink.AttrIndex, (uint)index);
            request.U64(NbdNetlink.AttrSizeBytes, export.Size)
                .U64(NbdNetlink.AttrBlockSizeBytes, export.MinimumBlockSize)
                .U64(NbdNetlink.AttrServerFlags, export.TransmissionFlags)
                .U64(NbdNetlink.AttrClientFlags, NbdNetlink.ClientFlagDestroyOnDisconnect)
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
                    : e.Errno == EINVAL ? $"the kernel refused the nbd configuration for {device}: {e.Message}"
                    : $"nbd CONNECT failed: {e.Message}";
                throw new NbdUnavailableException(reason, e);
            }
            uint? reported = replies.Select(r => new NetlinkAttributes(r).U32(NbdNetlink.AttrIndex)).FirstOrDefault(i => i is not null);
            int attached = wanted ?? (reported is { } i ? (int)i
                : throw new NbdUnavailableException("the kernel attached an nbd device but did not say which"));
            close(kernelFd);
            kernelFd = -1;
            var result = new KernelNbdDevice(attached, serving, stop);
            await result.WaitReadyAsync(ct).ConfigureAwait(false);
            return result;
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
            using var netlink = new GenericNetlinkSocket();
            if (netlink.ResolveFamily(NbdNetlink.Family) is { } family)
            {
                var request = new NetlinkMessage(family, NbdNetlink.CmdDisconnect, NbdNetlink.Version, netlink.NextSequence())
                    .U32(NbdNetlink.AttrIndex, (uint)Index);
                byte[] message = request.ToArray();
                await Task.Run(() => netlink.Exchange(message)).ConfigureAwait(false); // blocks: off the socket threads
            }
            await _serving.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException) { }
        catch (NetlinkException) { }
        finally
        {
            _stop.Cancel();
            try { await _serving.ConfigureAwait(false); } catch { /* the connection is gone either way */ }
            _stop.Dispose();
        }
    }

    public ValueTask DisposeAsync() => new(DetachAsync(TimeSpan.FromSeconds(30)));
}
