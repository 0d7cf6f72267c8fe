using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Sessions;

/// <summary>What `login` should do with the LUN once logged in.</summary>
public sealed record ExportRequest(string? NbdListen, string? NbdUnix, string? NbdDevice);

/// <summary>
/// Holds one logged-in session in this process until it is told to stop: logs in, opens the LUN, exposes
/// it, records itself under /run/iscsi-up/sessions, and on stop flushes, stops serving and logs out.
/// </summary>
public sealed class SessionHost(Portal portal, LoginOptions options, int? lun, ExportRequest export, TextWriter output)
{
    public async Task<int> RunAsync(Action? ready, CancellationToken stop)
    {
        var session = await IscsiSession.LoginAsync(portal, options, stop).ConfigureAwait(false);
        var lost = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Lost += error => lost.TrySetResult(error);
        session.TargetEvent += message => output.WriteLine($"iscsi-up: {message}");
        SessionRecord? record = null;
        await using var exposure = new LunExposure(export, output);
        try
        {
            output.WriteLine($"Login to [target: {options.TargetName}, portal: {portal},{session.Parameters.TargetPortalGroupTag ?? 1}] successful.");
            var disk = await OpenLunAsync(session, lun, stop).ConfigureAwait(false);
            output.WriteLine($"LUN {disk.Lun}: {disk.Inquiry.Vendor} {disk.Inquiry.Product} {disk.Inquiry.DeviceTypeName}, " +
                             $"{disk.Capacity.BlockCount} blocks of {disk.BlockSize} bytes ({Format.Size(disk.CapacityBytes)})");
            string device = await exposure.StartAsync(disk, $"lun{disk.Lun}", stop).ConfigureAwait(false);
            if (device.Length > 0) output.WriteLine($"Device: {device}");
            record = new SessionRecord(SessionRecord.NextId(), Environment.ProcessId, options.TargetName!, portal.ToString(),
                session.Parameters.TargetPortalGroupTag ?? 1, disk.Lun, options.InitiatorName, device.Length > 0 ? device : "-", disk.CapacityBytes, "LOGGED_IN");
            record.Save();
            output.Flush();
            ready?.Invoke();

            var stopped = Task.Delay(Timeout.Infinite, stop);
            var finished = await Task.WhenAny(stopped, lost.Task).ConfigureAwait(false);
            if (finished == lost.Task)
            {
                Console.Error.WriteLine($"iscsi-up: {lost.Task.Result.Message}");
                return ExitCodes.Transport;
            }
            await exposure.StopAsync().ConfigureAwait(false);
            try { await disk.SynchronizeCacheAsync(CancellationToken.None).ConfigureAwait(false); }
            catch (ScsiException e) { Console.Error.WriteLine($"iscsi-up: warning: {e.Message}"); }
            await session.LogoutAsync(CancellationToken.None).ConfigureAwait(false);
            output.WriteLine($"Logout of [target: {options.TargetName}, portal: {portal}] successful.");
            return ExitCodes.Success;
        }
        finally
        {
            record?.Delete();
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The requested LUN, or the first direct-access LUN the target reports.</summary>
    private static async Task<ScsiDisk> OpenLunAsync(IscsiSession session, int? lun, CancellationToken ct)
    {
        var luns = await ScsiDisk.ReportLunsAsync(session, ct).ConfigureAwait(false);
        if (lun is { } wanted)
        {
            if (!luns.Contains(wanted))
                throw new UserError($"target {session.TargetName} has no LUN {wanted} for this initiator (it reports: {(luns.Count == 0 ? "none" : string.Join(", ", luns))})");
            return await ScsiDisk.OpenAsync(session, wanted, ct).ConfigureAwait(false);
        }
        foreach (int candidate in luns)
        {
            var inquiry = await ScsiDisk.ProbeAsync(session, candidate, ct).ConfigureAwait(false);
            if (inquiry is { PeripheralQualifier: 0, DeviceType: InquiryData.DirectAccessBlockDevice })
                return await ScsiDisk.OpenAsync(session, candidate, ct).ConfigureAwait(false);
        }
        throw new UserError($"target {session.TargetName} exposes no disk LUN to this initiator (LUNs: {(luns.Count == 0 ? "none" : string.Join(", ", luns))})", ExitCodes.NoObjectsFound);
    }
}
