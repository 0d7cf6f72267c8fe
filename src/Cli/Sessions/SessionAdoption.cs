using IscsiUp.Nbd.Kernel;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Which kernel devices a new daemon may take over from one that is gone, and what it refuses. A device is ours
/// when a session record names it, the record's process is gone, and the kernel still has the device connected
/// with our backend identifier and the recorded size. Before reconnecting it, the successor logs in again and
/// checks that the LUN is the same disk (its serial number): a device is never reconnected to another disk.
/// </summary>
public static class SessionAdoption
{
    /// <summary>The backend identifier we give the kernel for a LUN (the kernel checks it again on reattach).</summary>
    public static string BackendId(string target, int lun) => $"iscsi-up:{target}:{lun}";

    /// <summary>The index of a "/dev/nbdN" device name, or null for anything else (a socket, "-").</summary>
    public static int? KernelIndex(string device) =>
        device.StartsWith("/dev/nbd", StringComparison.Ordinal) && int.TryParse(device.AsSpan(8), System.Globalization.NumberStyles.None, null, out int index)
            ? index : null;

    /// <summary>
    /// Detaches the kernel device of a LUN that will not be taken over (its I/O then fails at once). Null when it is
    /// detached or is no kernel device; otherwise why the kernel refused.
    /// </summary>
    public static async Task<string?> DetachAsync(LunRecord lun)
    {
        if (KernelIndex(lun.Device) is not { } index) return null;
        try
        {
            await KernelNbdDevice.DisconnectAsync(index).ConfigureAwait(false);
            return null;
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// For a record whose process is gone: the record as a waiting device (state <see cref="SessionRecord.HandOver"/>
    /// when its daemon left it cleanly, <see cref="SessionRecord.Orphaned"/> otherwise), or null when there is
    /// nothing to adopt (no kernel device, or the kernel device is gone or belongs to someone else now). Of a
    /// session with several LUNs, the record keeps only the LUNs whose devices still wait.
    /// </summary>
    public static SessionRecord? Waiting(SessionRecord record, KernelNbdSysfs sysfs)
    {
        var waiting = record.Luns.Where(lun => IsWaiting(record.Target, lun, sysfs)).ToArray();
        if (waiting.Length == 0) return null;
        var left = waiting.Length == record.Luns.Count ? record : record.WithLuns(waiting);
        return left.State == SessionRecord.HandOver ? left : left with { State = SessionRecord.Orphaned };
    }

    /// <summary>True when the LUN's kernel device is still connected with our backend identifier and the recorded size.</summary>
    private static bool IsWaiting(string target, LunRecord lun, KernelNbdSysfs sysfs) =>
        KernelIndex(lun.Device) is { } index && sysfs.Backend(index) == BackendId(target, lun.Lun) && sysfs.SizeBytes(index) == lun.CapacityBytes;

    /// <summary>
    /// Null when the LUN found after logging in again is the recorded one; otherwise why the device must not be
    /// reconnected to it.
    /// </summary>
    public static string? IdentityProblem(string target, LunRecord recorded, string? serial, long capacityBytes) =>
        IdentityProblem(target, recorded.Lun, recorded.Serial, recorded.CapacityBytes, serial, capacityBytes);

    /// <summary>
    /// Null when LUN <paramref name="lun"/> is still the same disk. The serial number says so; a LUN may grow or
    /// shrink meanwhile (the device follows it afterwards). Only a LUN without a serial number is held to its
    /// size, the one thing left that tells another disk apart.
    /// </summary>
    public static string? IdentityProblem(string target, int lun, string? serialBefore, long capacityBefore, string? serialNow, long capacityNow)
    {
        if (serialNow != serialBefore)
            return $"LUN {lun} of {target} changed its serial number ({Show(serialBefore)} -> {Show(serialNow)})";
        if (serialNow is null && capacityNow != capacityBefore)
            return $"LUN {lun} of {target} has no serial number and changed its size ({capacityBefore} -> {capacityNow} bytes)";
        return null;
    }

    private static string Show(string? serial) => serial is null ? "none" : $"\"{serial}\"";

    /// <summary>How many seconds a waiting device still holds I/O for a successor (0 when unknown or over).</summary>
    public static long SecondsLeft(SessionRecord record, DateTimeOffset now) =>
        record.LeftAt <= 0 ? 0 : Math.Max(0, record.LeftAt + record.NbdDeadTimeout - now.ToUnixTimeSeconds());
}
