using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// The rules for values a user gives on the command line or in a node record, checked before anything is
/// contacted: each bad value ends in one line saying what is wrong and what would do (exit 7).
/// </summary>
public static class ArgumentCheck
{
    /// <summary>The longest --login-timeout: a login step that takes longer than an hour is a dead peer.</summary>
    public const int MaxLoginTimeoutSeconds = 3600;

    /// <summary>SAM LUN addressing as the initiator encodes it: peripheral below 256, flat up to 16383.</summary>
    public const int MaxLun = 16383;

    /// <summary>sun_path holds 108 bytes with its terminating NUL.</summary>
    public const int MaxUnixSocketPathBytes = 107;

    public static int LoginTimeout(int seconds) => seconds is >= 1 and <= MaxLoginTimeoutSeconds
        ? seconds
        : throw new UserError($"invalid --login-timeout {seconds}: give seconds from 1 to {MaxLoginTimeoutSeconds}");

    public static int? Lun(int? lun, string what = "--lun") => lun is null or (>= 0 and <= MaxLun)
        ? lun
        : throw new UserError($"invalid {what} {lun}: a LUN is a number from 0 to {MaxLun}");

    /// <summary>A LUN as text (a node record's node.lun), or null for "the first disk LUN".</summary>
    public static int? Lun(string? text, string what)
    {
        if (string.IsNullOrEmpty(text)) return null;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int lun)
            ? Lun(lun, what)
            : throw new UserError($"invalid {what} \"{text}\": a LUN is a number from 0 to {MaxLun}");
    }

    /// <summary>--nbd-device: auto, none, or /dev/nbdN (any other device would hand a disk of this machine to nbd).</summary>
    public static string? NbdDevice(string? device, string what = "--nbd-device")
    {
        if (device is null or "auto" or "none") return device;
        if (device.StartsWith("/dev/nbd", StringComparison.Ordinal) && device.Length > 8 && device.Length <= 14 && device[8..].All(char.IsAsciiDigit))
            return device;
        throw new UserError($"invalid {what} \"{device}\": use auto, none or /dev/nbdN");
    }

    /// <summary>--nbd-unix: made absolute, and short enough for a socket address.</summary>
    public static string? NbdUnix(string? path, string what = "--nbd-unix")
    {
        if (path is null) return null;
        if (path.Length == 0 || path.Contains('\0')) throw new UserError($"invalid {what}: give the path of the socket to create");
        string full = Path.GetFullPath(path);
        int bytes = Encoding.UTF8.GetByteCount(full);
        if (bytes > MaxUnixSocketPathBytes)
            throw new UserError($"invalid {what} {full}: a unix socket path has at most {MaxUnixSocketPathBytes} bytes (this one has {bytes}); choose a shorter path");
        return full;
    }

    /// <summary>--nbd-unix for a login now: also a place where the socket can be created (a node record's may not exist yet).</summary>
    public static string? NbdUnixToCreate(string? path)
    {
        if (NbdUnix(path) is not { } full) return null;
        string directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) throw new UserError($"invalid --nbd-unix {full}: directory {directory} does not exist");
        if (Config.SmallFile.KindOf(full) is { } kind && kind != Config.SmallFile.Socket)
            throw new UserError($"invalid --nbd-unix {full}: it exists and is {kind}, not a socket");
        return full;
    }

    /// <summary>--nbd-listen HOST:PORT: a loopback IP address (NBD has no authentication) and a port.</summary>
    public static IPEndPoint NbdListen(string text)
    {
        if (!Initiator.Session.Portal.TryParse(text, out var portal, out _) || !text.Contains(':'))
            throw new UserError($"invalid --nbd-listen \"{text}\": expected HOST:PORT, for example 127.0.0.1:10809 or [::1]:10809");
        IPAddress address = portal!.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(portal.Host, out var parsed) ? parsed
            : throw new UserError($"invalid --nbd-listen host \"{portal.Host}\": give an IP address such as 127.0.0.1 or [::1]");
        if (address.IsIPv4MappedToIPv6)
            throw new UserError($"invalid --nbd-listen \"{text}\": write the IPv4-mapped address as {address.MapToIPv4()}:{portal.Port}");
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
            throw new UserError($"invalid --nbd-listen \"{text}\": a loopback address has no scope id");
        if (!IPAddress.IsLoopback(address))
            throw new UserError($"refusing to serve NBD on {address}: NBD has no authentication, so only loopback addresses and unix sockets are allowed");
        return new IPEndPoint(address, portal.Port);
    }
}
