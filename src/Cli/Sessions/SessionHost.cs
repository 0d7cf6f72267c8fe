using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Io;

namespace IscsiUp.Cli.Sessions;

/// <summary>What `login` should do with the LUNs once logged in.</summary>
public sealed record ExportRequest(string? NbdListen, string? NbdUnix, string? NbdDevice)
{
    /// <summary>For a kernel device: how long it rides out the loss of its socket (node.nbd_timeout, node.nbd_dead_timeout).</summary>
    public Nbd.Kernel.KernelNbdTimeouts NbdTimeouts { get; init; } = Nbd.Kernel.KernelNbdTimeouts.Default;
}

/// <summary>
/// Holds one logged-in session in this process until it is told to stop: logs in, opens its disk LUNs (every
/// one the target reports, or those in <paramref name="luns"/>), exposes them, records itself under
/// /run/iscsi-up/sessions, and on stop flushes, stops serving and logs out. All LUNs share the one session and
/// its recovery.
/// </summary>
public sealed class SessionHost(Portal portal, LoginOptions options, IReadOnlyList<int>? luns, ExportRequest export, TextWriter output)
{
    /// <summary>Set when a daemon holds this session: `logout` asks the daemon through this socket instead of signalling.</summary>
    public string? ControlSocket { get; init; }

    /// <summary>Command timeouts, error handling and reconnects: per node, else iscsi-up.conf, else the defaults.</summary>
    public RecoveryOptions Recovery { get; init; } = new();

    /// <summary>The target's portals the node record remembers; null or empty: a SendTargets at login finds them.</summary>
    public IReadOnlyList<IscsiUp.Initiator.Discovery.TargetPortal>? KnownPortals { get; init; }

    /// <summary>This session's record once it is usable (its id is what `session` shows and `logout` names).</summary>
    public SessionRecord? Record => Volatile.Read(ref _record);

    /// <summary>
    /// Set when this host takes over the kernel devices left by a daemon that is gone: log in again, refuse a LUN
    /// that is not the recorded one, then hand each device a new socket. The session keeps the record's id.
    /// </summary>
    public SessionRecord? Adopting { get; init; }

    /// <summary>
    /// Set when the daemon stops (not a logout): a kernel device still in use is then left waiting for the next
    /// daemon instead of being detached.
    /// </summary>
    public bool HandOverOnStop
    {
        get => Volatile.Read(ref _handOverOnStop);
        set => Volatile.Write(ref _handOverOnStop, value);
    }
    private bool _handOverOnStop;

    /// <summary>
    /// Why the last stop did not end in a clean logout (null when it did, or has not happened): what a daemon tells
    /// the `logout` command that asked for the stop.
    /// </summary>
    public string? StopProblem { get; private set; }

    /// <summary>How long the cache flush and logout may take once the device is detached.</summary>
    public static readonly TimeSpan StopBudget = TimeSpan.FromSeconds(20);

    private static readonly Lock RecordGate = new();
    private SessionRecord? _record;
    private (RecoveringSession Session, LunExposure Exposure)? _live;
    private volatile LunRescan? _rescan;
    private volatile bool _recovering;

    /// <summary>
    /// `iscsi-up rescan`: brings the exposed LUNs in step with the target now (new LUNs exposed, removed ones
    /// retired, capacities read again). One line per change; null when the session is not usable (yet).
    /// </summary>
    public async Task<IReadOnlyList<string>?> RescanAsync(CancellationToken ct) =>
        _rescan is { } rescan ? await rescan.RescanAsync(ct).ConfigureAwait(false) : null;

    /// <summary>What `session -P` and `session --json` show of this session while it is usable; null otherwise.</summary>
    public SessionDetails? Details()
    {
        if (Record is not { } record || _live is not var (session, exposure)) return null;
        return SessionDetails.From(record) with
        {
            Io = IoStatistics.From(exposure.Counters(record.Lun)),
            Luns = [.. record.Luns.Select(l => new LunDetails(l.Lun, l.Device, l.CapacityBytes) { Io = IoStatistics.From(exposure.Counters(l.Lun)) })],
            ConnectionState = _recovering ? "REOPEN" : "LOGGED IN",
            Recoveries = session.Reconnects,
            CurrentPortal = session.Portal.ToString(),
            Failovers = session.Failovers,
            Portals = [.. session.Portals.Select(p => p.ToString())],
            Parameters = NegotiatedParameters.From(session.Current.Parameters),
            Timeouts = new SessionTimers((int)Recovery.ReplacementTimeout.TotalSeconds, (int)Recovery.NopInterval.TotalSeconds,
                (int)Recovery.NopTimeout.TotalSeconds, (int)options.Timeout.TotalSeconds, (int)Recovery.CommandTimeout.TotalSeconds,
                (int)Recovery.AbortTimeout.TotalSeconds, (int)Recovery.LuResetTimeout.TotalSeconds),
        };
    }

    public async Task<int> RunAsync(Action? ready, CancellationToken stop)
    {
        // Say "no nbd driver" before logging in, not after: nothing to undo on the target.
        if (export.NbdDevice is not null && Adopting is null) await Task.Run(Nbd.Kernel.KernelNbdDevice.EnsureDriver).ConfigureAwait(false); // may run modprobe: never on a socket thread
        // One schedule for the session's iSCSI connection and its NBD loops: the commands of NBD requests read in one
        // go leave in one send, and so do the replies to the iSCSI responses read in one go.
        var schedule = new SendSchedule();
        var session = await RecoveringSession.LoginAsync(portal, options, Recovery, stop, schedule: schedule).ConfigureAwait(false);
        var failed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Failed += error => failed.TrySetResult(error);
        session.Log += message => output.WriteLine($"iscsi-up: {message}");
        await using var exposure = new LunExposure(export, output, schedule);
        bool leftWaiting = false;
        try
        {
            var parameters = session.Current.Parameters;
            // Beside the LUN probing, finished before the login reports anything: the discovery session is gone by then.
            var findingPortals = FailoverPortals.AddAtLoginAsync(session, options, KnownPortals, output, stop);
            var wanted = Adopting is { } adopting ? await LunsStillReportedAsync(session, adopting, stop).ConfigureAwait(false) : luns;
            var disks = await OpenLunsAsync(session, wanted, stop).ConfigureAwait(false);
            if (Adopting is { } left)
                foreach (var disk in disks)
                    if (left.Luns.Single(l => l.Lun == disk.Lun) is var recorded &&
                        SessionAdoption.IdentityProblem(left.Target, recorded, disk.SerialNumber, disk.CapacityBytes) is { } changed)
                        throw new AdoptionRefusedException($"{changed}: refusing to reconnect {recorded.Device} to a different disk");
            if (Adopting is null && disks.Count > 1 && export.NbdDevice is { } named && named != "auto")
                throw new UserError($"--nbd-device {named} is one device, but {options.TargetName} has disk LUNs {string.Join(", ", disks.Select(d => d.Lun))}: " +
                                    "choose one with --lun, or let --nbd-device auto give each its own");
            LunRescan? rescan = null;
            session.ValidateReconnect = (candidate, token) => CheckSameLunsAsync(candidate, rescan?.Disks ?? disks, token);
            await findingPortals.ConfigureAwait(false);
            foreach (var disk in disks)
                output.WriteLine($"LUN {disk.Lun}: {disk.Inquiry.Vendor} {disk.Inquiry.Product} {disk.Inquiry.DeviceTypeName}, " +
                                 $"{disk.Capacity.BlockCount} blocks of {disk.BlockSize} bytes ({Format.Size(disk.CapacityBytes)})");
            var reattach = Adopting?.Luns.Where(l => SessionAdoption.KernelIndex(l.Device) is not null)
                .ToDictionary(l => l.Lun, l => SessionAdoption.KernelIndex(l.Device)!.Value);
            var devices = await exposure.StartAsync(disks, stop, reattach).ConfigureAwait(false);
            foreach (var (disk, device) in disks.Zip(devices))
                if (device.Length > 0) output.WriteLine(disks.Count == 1 ? $"Device: {device}" : $"Device: {device} (LUN {disk.Lun})");
            if (Adopting is { } resized)
                await FollowCapacityChangesAsync(resized, disks, exposure).ConfigureAwait(false);
            if (export.NbdDevice is not null && !IoFlusher.IsSet)
                output.WriteLine("iscsi-up: warning: PR_SET_IO_FLUSHER is not set (kernel before 5.6 or no CAP_SYS_RESOURCE): heavy writeback under memory pressure could stall");
            // Said only now that the LUNs are usable: a missing LUN or a failed attach is not a successful login.
            output.WriteLine($"Login to [target: {options.TargetName}, portal: {portal},{parameters.TargetPortalGroupTag ?? 1}] successful.");
            var exposed = disks.Zip(devices, RecordOf).ToArray();
            lock (RecordGate) // one daemon logs in several sessions at once: each must get its own id
            {
                _record = new SessionRecord(Adopting?.Id ?? SessionRecord.NextId(), Environment.ProcessId, options.TargetName!, portal.ToString(),
                    parameters.TargetPortalGroupTag ?? 1, exposed[0].Lun, options.InitiatorName, exposed[0].Device, exposed[0].CapacityBytes,
                    SessionRecord.LoggedIn, ControlSocket)
                {
                    NbdTimeout = export.NbdTimeouts.RequestSeconds,
                    NbdDeadTimeout = export.NbdTimeouts.DeadConnectionSeconds,
                }.WithLuns(exposed);
                SessionCredentials.Save(_record.Id, options.Chap); // before the record: a successor that finds the record finds these
                _record.Save();
            }
            // udev saw the devices before this record existed: let it look again and make the by-path and by-id links.
            foreach (string device in devices)
                if (device.Length > 0) UdevNames.Announce(device);
            session.RecoveringChanged += recovering =>
            {
                _recovering = recovering;
                if (!recovering) RecordPortalInUse(session);
                UpdateState(recovering ? SessionRecord.Recovering : SessionRecord.LoggedIn);
                if (!recovering) _rescan?.Notice();
            };
            _live = (session, exposure);
            rescan = new LunRescan(session, Adopting is null ? luns : null, exposure, output, disks.Zip(devices)) { Changed = LunsChanged };
            _rescan = rescan;
            session.AsyncSense += (_, sense) => rescan.Consider(sense);
            rescan.Start();
            output.Flush();
            ready?.Invoke();

            var stopped = Task.Delay(Timeout.Infinite, stop);
            var finished = await Task.WhenAny(stopped, failed.Task).ConfigureAwait(false);
            if (finished == failed.Task)
            {
                Console.Error.WriteLine($"iscsi-up: {failed.Task.Result.Message}");
                StopProblem = $"the session had already failed: {failed.Task.Result.Message}";
                return ExitCodes.Transport;
            }
            // A device in use is drained and left for the next daemon, one nobody uses is detached (LUN by LUN). Either waits for the
            // requests in flight; a target that leaves them unanswered must not hold up the stop (command timeouts and
            // re-issues could take minutes): past the budget the connection is closed, and what was pending fails
            // with an I/O error.
            async Task<bool> HandOverOrDetachAsync()
            {
                await rescan.DisposeAsync().ConfigureAwait(false); // no LUN comes or goes while they are detached
                disks = rescan.Disks;
                var handedOver = HandOverOnStop ? await exposure.HandOverIfInUseAsync().ConfigureAwait(false) : [];
                if (handedOver.Count > 0)
                {
                    // Left for the next daemon: the record stays (HANDOVER), naming only the devices left, so that daemon finds them.
                    UpdateState(SessionRecord.HandOver, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), handedOver);
                    foreach (var left in _record!.Luns)
                        output.WriteLine($"iscsi-up: {left.Device} ({options.TargetName} at {portal}{(disks.Count > 1 ? $", LUN {left.Lun}" : "")}) is in use: " +
                                         $"left for the next daemon, its I/O waits up to {export.NbdTimeouts.DeadConnectionSeconds} s for it (nbd dead-connection timeout)");
                }
                await exposure.StopAsync().ConfigureAwait(false);
                return handedOver.Count > 0;
            }
            var detaching = HandOverOrDetachAsync();
            if (await Task.WhenAny(detaching, Task.Delay(StopBudget)).ConfigureAwait(false) != detaching)
            {
                Console.Error.WriteLine($"iscsi-up: {options.TargetName} at {portal} left I/O unanswered for {StopBudget.TotalSeconds:0} s; " +
                                        "closing the connection without a logout (that I/O fails)");
                StopProblem = $"the target left I/O unanswered for {StopBudget.TotalSeconds:0} s: the connection was closed without a logout (that I/O failed)";
                await session.DisposeAsync().ConfigureAwait(false);
                await detaching.ConfigureAwait(false);
                return ExitCodes.Transport;
            }
            leftWaiting = await detaching.ConfigureAwait(false);
            // The device is detached (or drained and left waiting): every write we answered was acknowledged by the
            // target. What is left is its cache flush and the logout, which must not hold up a shutdown for the whole
            // replacement timeout when the target has gone away first.
            using var budget = new CancellationTokenSource(StopBudget);
            try
            {
                foreach (var disk in disks)
                {
                    try { await disk.SynchronizeCacheAsync(budget.Token).ConfigureAwait(false); }
                    catch (IOException e) { Console.Error.WriteLine($"iscsi-up: warning: {e.Message}"); }
                }
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"iscsi-up: warning: {options.TargetName} at {portal} did not answer within {StopBudget.TotalSeconds:0} s: " +
                                        "no cache flush and no logout (the target ends the session itself)");
                StopProblem = $"the device is {(leftWaiting ? "left for the next daemon" : "detached")}, but the target did not answer " +
                              $"the cache flush and logout within {StopBudget.TotalSeconds:0} s";
                return ExitCodes.Transport;
            }
            try { await session.LogoutAsync(budget.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                string why = e is IOException ? e.Message : $"no answer within {StopBudget.TotalSeconds:0} s";
                Console.Error.WriteLine($"iscsi-up: warning: logout from {options.TargetName} at {portal} did not complete: {why}");
                StopProblem = $"the device is {(leftWaiting ? "left for the next daemon" : "detached")}, but the logout did not complete: {why}";
                return ExitCodes.Transport;
            }
            output.WriteLine($"Logout of [target: {options.TargetName}, portal: {portal}] successful.");
            return ExitCodes.Success;
        }
        finally
        {
            _live = null;
            if (Interlocked.Exchange(ref _rescan, null) is { } watching) await watching.DisposeAsync().ConfigureAwait(false);
            // Stopped between reattaching a device and recording it (a takeover cut short): the device is in use
            // and its old record still names it, so leave it for the next daemon rather than detach it.
            if (!leftWaiting && HandOverOnStop && (await exposure.HandOverIfInUseAsync().ConfigureAwait(false)).Count > 0) leftWaiting = true;
            if (!leftWaiting) lock (RecordGate) _record?.Delete();
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static LunRecord RecordOf(ScsiDisk disk, string device) => new(disk.Lun, device.Length > 0 ? device : "-", disk.CapacityBytes)
    {
        Serial = disk.SerialNumber,
        Identifier = disk.Identifier?.ToString(),
    };

    /// <summary>A rescan added, removed or resized LUNs: the record follows (a record names at least one LUN, so the last one stays named).</summary>
    private void LunsChanged(IReadOnlyList<(ScsiDisk Disk, string Device)> now)
    {
        if (now.Count == 0) return;
        lock (RecordGate)
        {
            if (_record is null || _record.State == SessionRecord.HandOver || !File.Exists(_record.FilePath)) return;
            var known = _record.Luns.Select(l => l.Device).ToHashSet();
            _record = _record.WithLuns([.. now.Select(l => RecordOf(l.Disk, l.Device))]);
            _record.Save();
            foreach (var (_, device) in now)
                if (device.StartsWith("/dev/", StringComparison.Ordinal) && !known.Contains(device)) UdevNames.Announce(device);
        }
    }

    /// <summary>Records a new state; <paramref name="onlyLuns"/> narrows the record to the LUNs whose devices are left waiting.</summary>
    private void UpdateState(string state, long leftAt = 0, IReadOnlyList<int>? onlyLuns = null)
    {
        lock (RecordGate)
        {
            if (_record is null || _record.State == state || !File.Exists(_record.FilePath)) return;
            if (_record.State == SessionRecord.HandOver) return; // left for the next daemon: a late recovery event must not hide that
            var kept = onlyLuns is null ? _record : _record.WithLuns([.. _record.Luns.Where(l => onlyLuns.Contains(l.Lun))]);
            _record = kept with { State = state, LeftAt = leftAt };
            _record.Save();
        }
    }

    /// <summary>After a failover the record names the portal in use, for `session` (also of a --foreground session).</summary>
    private void RecordPortalInUse(RecoveringSession session)
    {
        lock (RecordGate)
        {
            if (_record is null || _record.Failovers == session.Failovers || !File.Exists(_record.FilePath) || _record.State == SessionRecord.HandOver) return;
            _record = _record with { CurrentPortal = session.Portal.ToString(), Failovers = session.Failovers };
            _record.Save();
        }
    }

    /// <summary>
    /// The LUNs of a session being taken over that the target still reports. The device of one it no longer reports
    /// is detached (its I/O fails at once, as when a LUN goes while a daemon serves it); the others are taken over.
    /// </summary>
    private async Task<IReadOnlyList<int>> LunsStillReportedAsync(IScsiSession session, SessionRecord adopting, CancellationToken ct)
    {
        var reported = await ScsiDisk.ReportLunsAsync(session, ct).ConfigureAwait(false);
        var kept = adopting.Luns.Where(l => reported.Contains(l.Lun)).Select(l => l.Lun).ToArray();
        if (kept.Length == 0)
            throw new AdoptionRefusedException($"{adopting.Target} no longer reports LUN {string.Join(", ", adopting.Luns.Select(l => l.Lun))}");
        foreach (var gone in adopting.Luns.Where(l => !reported.Contains(l.Lun)))
        {
            string detached = await SessionAdoption.DetachAsync(gone).ConfigureAwait(false) is { } failure
                ? $"{gone.Device} could not be detached: {failure}"
                : $"{gone.Device} is detached (its I/O fails)";
            output.WriteLine($"iscsi-up: LUN {gone.Lun} was removed by the target while no daemon served it: {detached}");
        }
        return kept;
    }

    /// <summary>A LUN that grew or shrank while no daemon served it: its reattached device still has the old size.</summary>
    private async Task FollowCapacityChangesAsync(SessionRecord adopted, IReadOnlyList<ScsiDisk> disks, LunExposure exposure)
    {
        foreach (var disk in disks)
        {
            var recorded = adopted.Luns.Single(l => l.Lun == disk.Lun);
            if (recorded.CapacityBytes == disk.CapacityBytes) continue;
            string follows = $"{recorded.Device} follows";
            try { await exposure.ResizeAsync(disk).ConfigureAwait(false); }
            catch (IOException e) { follows = $"{recorded.Device} could not follow: {e.Message}"; }
            output.WriteLine($"iscsi-up: LUN {disk.Lun} changed capacity from {Format.Size(recorded.CapacityBytes)} to {Format.Size(disk.CapacityBytes)} " +
                             $"while no daemon served it: {follows}");
        }
    }

    /// <summary>A successor daemon found a different LUN behind a device it was to reattach.</summary>
    public sealed class AdoptionRefusedException(string message) : Exception(message);

    /// <summary>
    /// After a reconnect, make sure each LUN the target still reports is the same disk (libiscsi checks too). One
    /// it no longer reports, or one that grew or shrank meanwhile, is no reason to refuse the session: the rescan
    /// that follows every reconnect retires or resizes it.
    /// </summary>
    private static async Task CheckSameLunsAsync(IScsiSession candidate, IReadOnlyList<ScsiDisk> originals, CancellationToken ct)
    {
        var reported = await ScsiDisk.ReportLunsAsync(candidate, ct).ConfigureAwait(false);
        foreach (var original in originals.Where(o => reported.Contains(o.Lun)))
        {
            var again = await ScsiDisk.OpenAsync(candidate, original.Lun, ct).ConfigureAwait(false);
            if (SessionAdoption.IdentityProblem(candidate.TargetName ?? "", original.Lun, original.SerialNumber, original.CapacityBytes,
                    again.SerialNumber, again.CapacityBytes) is { } changed)
                throw new InvalidOperationException($"{changed}; refusing to write to a different disk");
        }
    }

    /// <summary>
    /// The requested LUNs, each of which must be a disk; without a request, every direct-access LUN the target
    /// reports (a controller or enclosure LUN is skipped with a line saying so).
    /// </summary>
    private async Task<IReadOnlyList<ScsiDisk>> OpenLunsAsync(IScsiSession session, IReadOnlyList<int>? wanted, CancellationToken ct)
    {
        var reported = await ScsiDisk.ReportLunsAsync(session, ct).ConfigureAwait(false);
        string reportedText = reported.Count == 0 ? "none" : string.Join(", ", reported);
        var disks = new List<ScsiDisk>();
        if (wanted is { Count: > 0 })
        {
            foreach (int lun in wanted.Distinct())
            {
                if (!reported.Contains(lun))
                    throw new UserError($"target {session.TargetName} has no LUN {lun} for this initiator (it reports: {reportedText})");
                // A controller or tape LUN would fail later with an obscure SCSI error: say what it is instead.
                var inquiry = await ScsiDisk.ProbeAsync(session, lun, ct).ConfigureAwait(false);
                if (!IsDisk(inquiry))
                    throw new UserError($"LUN {lun} of target {session.TargetName} is not a disk ({NotDiskReason(inquiry)}); " +
                                        $"choose a disk LUN with --lun (the target reports LUNs {reportedText})");
                disks.Add(await ScsiDisk.OpenAsync(session, lun, ct).ConfigureAwait(false));
            }
            return disks;
        }
        foreach (int candidate in reported)
        {
            var inquiry = await ScsiDisk.ProbeAsync(session, candidate, ct).ConfigureAwait(false);
            if (IsDisk(inquiry)) disks.Add(await ScsiDisk.OpenAsync(session, candidate, ct).ConfigureAwait(false));
            else output.WriteLine($"Skipping LUN {candidate}: not a disk ({NotDiskReason(inquiry)})");
        }
        if (disks.Count == 0)
            throw new UserError($"target {session.TargetName} exposes no disk LUN to this initiator (LUNs: {reportedText})", ExitCodes.NoObjectsFound);
        return disks;
    }

    private static bool IsDisk(InquiryData inquiry) => inquiry is { PeripheralQualifier: 0, DeviceType: InquiryData.DirectAccessBlockDevice };

    private static string NotDiskReason(InquiryData inquiry) =>
        inquiry.PeripheralQualifier == 0 ? $"SCSI device type: {inquiry.DeviceTypeName}" : "no device connected";
}
