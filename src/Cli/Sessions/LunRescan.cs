using System.Threading.Channels;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Keeps a session's exposed LUNs in step with the target. A unit attention saying the LUN inventory or a
/// capacity changed (seen by whichever command met it, on the receive loop) only takes note; one task here then
/// runs the rescan, a short while later so that a burst of attentions costs one: REPORT LUNS, open and expose
/// the new disk LUNs, retire the removed ones (their I/O fails with EIO), read every remaining capacity again
/// and resize what changed. `iscsi-up rescan` runs the same rescan on request. Each change is one output line.
/// </summary>
public sealed class LunRescan : IAsyncDisposable
{
    /// <summary>How long to wait after the first attention for the others of the same change.</summary>
    public static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);

    private readonly IScsiSession _session;
    private readonly IReadOnlyList<int>? _wanted;
    private readonly LunExposure _exposure;
    private readonly TextWriter _output;
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly Channel<bool> _noticed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private List<(ScsiDisk Disk, string Device)> _luns;
    private Task _loop = Task.CompletedTask;

    /// <param name="wanted">The LUNs the user asked for (null: every disk LUN): only those are added when they appear.</param>
    public LunRescan(IScsiSession session, IReadOnlyList<int>? wanted, LunExposure exposure, TextWriter output,
        IEnumerable<(ScsiDisk Disk, string Device)> exposed)
    {
        _session = session;
        _wanted = wanted is { Count: > 0 } ? wanted : null;
        _exposure = exposure;
        _output = output;
        _luns = [.. exposed];
        foreach (var (disk, _) in _luns) Watch(disk);
    }

    /// <summary>Called after each rescan that changed something, with every LUN now exposed and its device.</summary>
    public Action<IReadOnlyList<(ScsiDisk Disk, string Device)>>? Changed { get; init; }

    /// <summary>The LUNs exposed now, in LUN order.</summary>
    public IReadOnlyList<(ScsiDisk Disk, string Device)> Luns
    {
        get { lock (_gate) return [.. _luns]; }
    }

    public IReadOnlyList<ScsiDisk> Disks => [.. Luns.Select(l => l.Disk)];

    /// <summary>
    /// Asks for a rescan soon, as an attention would: after a reconnect, since what changed while the connection
    /// was down is reported to the old nexus, not to ours.
    /// </summary>
    public void Notice() => _noticed.Writer.TryWrite(true);

    /// <summary>Starts reacting to the target's unit attentions.</summary>
    public void Start() => _loop = Task.Run(LoopAsync);

    private void Watch(ScsiDisk disk) => disk.UnitAttention = Consider;

    /// <summary>Takes note of sense data the target reported, with a command's status or in a SCSI asynchronous
    /// event: a changed LUN inventory or capacity asks for a rescan.</summary>
    public void Consider(SenseData sense)
    {
        if (ScsiDisk.IsLunInventoryChange(sense) || ScsiDisk.IsCapacityChange(sense)) Notice();
    }

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        try
        {
            while (await _noticed.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                await Task.Delay(Debounce, ct).ConfigureAwait(false);
                _noticed.Reader.TryRead(out _);
                try { await RescanAsync(ct).ConfigureAwait(false); }
                catch (Exception e) when (e is not OperationCanceledException) // a failed rescan must not end the watching
                {
                    _output.WriteLine($"iscsi-up: rescan of {_session.TargetName} failed: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Brings the exposed LUNs in step with the target now; returns one line per change (none: nothing changed).</summary>
    public async Task<IReadOnlyList<string>> RescanAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
        await _one.WaitAsync(linked.Token).ConfigureAwait(false);
        try
        {
            var changes = new List<string>();
            var reported = await ScsiDisk.ReportLunsAsync(_session, linked.Token).ConfigureAwait(false);
            var luns = Luns.ToList();
            foreach (var (disk, device) in luns.Where(l => !reported.Contains(l.Disk.Lun)).ToArray())
            {
                string? mountedAt = await _exposure.RemoveAsync(disk.Lun).ConfigureAwait(false);
                luns.RemoveAll(l => l.Disk.Lun == disk.Lun);
                changes.Add(mountedAt is null
                    ? $"LUN {disk.Lun} was removed by the target{(device.Length > 0 ? $": {device} is gone" : "")}"
                    : $"LUN {disk.Lun} was removed by the target while {device} is mounted on {mountedAt}: its I/O fails (EIO)");
            }
            foreach (var (disk, device) in luns)
            {
                long before = disk.CapacityBytes;
                if (!await disk.RefreshCapacityAsync(linked.Token).ConfigureAwait(false)) continue;
                string follows = device.Length > 0 ? $": {device} follows" : "";
                try { await _exposure.ResizeAsync(disk).ConfigureAwait(false); }
                catch (IOException e) { follows = $", but {device} could not follow: {e.Message}"; }
                changes.Add($"LUN {disk.Lun} changed capacity from {Format.Size(before)} to {Format.Size(disk.CapacityBytes)} " +
                            $"({disk.Capacity.BlockCount} blocks){follows}");
            }
            foreach (int lun in reported.Where(l => luns.All(e => e.Disk.Lun != l) && (_wanted is null || _wanted.Contains(l))))
            {
                var inquiry = await ScsiDisk.ProbeAsync(_session, lun, linked.Token).ConfigureAwait(false);
                if (inquiry is not { PeripheralQualifier: 0, DeviceType: InquiryData.DirectAccessBlockDevice }) continue;
                var disk = await ScsiDisk.OpenAsync(_session, lun, linked.Token).ConfigureAwait(false);
                string device;
                try { device = await _exposure.AddAsync(disk, linked.Token).ConfigureAwait(false); }
                catch (Exception e) when (e is IOException or UserError)
                {
                    changes.Add($"LUN {lun} was added by the target, but could not be exposed: {e.Message}");
                    continue;
                }
                Watch(disk);
                luns.Add((disk, device));
                changes.Add($"LUN {lun} was added by the target: {disk.Inquiry.Vendor} {disk.Inquiry.Product} {disk.Inquiry.DeviceTypeName}, " +
                            $"{disk.Capacity.BlockCount} blocks of {disk.BlockSize} bytes ({Format.Size(disk.CapacityBytes)})" +
                            (device.Length > 0 ? $", device {device}" : ""));
            }
            if (changes.Count == 0) return changes;
            luns.Sort((a, b) => a.Disk.Lun.CompareTo(b.Disk.Lun));
            lock (_gate) _luns = luns;
            foreach (string change in changes) _output.WriteLine($"iscsi-up: {change}");
            Changed?.Invoke(luns);
            return changes;
        }
        finally { _one.Release(); }
    }

    /// <summary>Stops reacting and waits for a rescan under way; later rescans are refused.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        await _loop.ConfigureAwait(false);
        await _one.WaitAsync().ConfigureAwait(false); // a rescan under way ends before the LUNs are detached
    }
}
