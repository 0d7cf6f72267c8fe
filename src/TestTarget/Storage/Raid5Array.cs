using System.Buffers;

namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// A software RAID-5 array in the manner of Linux md (<c>mdadm -C -l 5 -n N -x S</c>):
/// left-symmetric layout, striped per-stripe locks, read-modify-write or reconstruct-write for
/// partial stripes, degraded operation after one member fails, and a background rebuild onto a
/// hot spare. Losing a second member fails the array: every I/O then throws
/// <see cref="RaidFailedException"/> rather than return wrong data.
/// </summary>
/// <remarks>
/// The array owns its member disks and disposes them. I/O runs synchronously on the caller's
/// thread (member disks are synchronous), so the returned tasks are already complete.
/// Member failure is a logical event (<see cref="FailDisk"/>): there is no on-disk superblock,
/// so an array built from files remembers its membership in a side file (see
/// <see cref="CreateOnFiles"/>).
/// </remarks>
public sealed partial class Raid5Array : IBlockStorage
{
    public const int DefaultChunkSize = 512 * 1024;

    /// <summary>Most active members an array may have.</summary>
    public const int MaxActiveDisks = 64;

    private const int SectorSize = 512;

    private readonly Raid5Layout _layout;
    private readonly StripeLockSet _locks = new();
    private readonly Lock _stateLock = new();
    private readonly List<Member> _spares; // guarded by _stateLock
    private readonly List<Member> _retired = []; // replaced members, guarded by _stateLock
    private ArrayConfiguration _config; // immutable snapshot, swapped under _stateLock
    private RebuildState? _latestRebuild; // set under _stateLock; its completion outlives its place in _config
    private volatile bool _disposed;

    /// <summary>Called (outside all locks) after the membership changed; used to persist it.</summary>
    private Action? _membershipChanged;

    /// <summary>Builds an array from its members; disk <c>i</c> of <paramref name="activeDisks"/> is slot <c>i</c>.</summary>
    /// <param name="activeDisks">The members holding data and parity (at least 2).</param>
    /// <param name="spares">Hot spares, used in order when a member fails.</param>
    /// <param name="chunkSize">Bytes per chunk, a positive multiple of 512.</param>
    public Raid5Array(IReadOnlyList<IMemberDisk> activeDisks, IReadOnlyList<IMemberDisk> spares, int chunkSize = DefaultChunkSize)
        : this(activeDisks, spares, chunkSize, names: null)
    {
    }

    private Raid5Array(IReadOnlyList<IMemberDisk> activeDisks, IReadOnlyList<IMemberDisk> spares, int chunkSize, IReadOnlyList<string>? names)
    {
        ArgumentNullException.ThrowIfNull(activeDisks);
        ArgumentNullException.ThrowIfNull(spares);
        CheckActiveCount(activeDisks.Count, nameof(activeDisks));
        CheckChunkSize(chunkSize);

        var seen = new HashSet<IMemberDisk>(ReferenceEqualityComparer.Instance);
        CheckMembers(activeDisks, seen, nameof(activeDisks));
        CheckMembers(spares, seen, nameof(spares));

        long memberSize = activeDisks.Min(d => d.Size);
        long stripes = memberSize / chunkSize;
        if (stripes == 0)
        {
            throw new ArgumentException(
                $"Member disks ({memberSize} bytes) are smaller than one chunk ({chunkSize} bytes).", nameof(activeDisks));
        }

        long usedPerMember = stripes * chunkSize;
        for (int i = 0; i < spares.Count; i++)
        {
            if (spares[i].Size < usedPerMember)
            {
                throw new ArgumentException(
                    $"Spare {i} ({spares[i].Size} bytes) is smaller than the {usedPerMember} bytes used on each member.", nameof(spares));
            }
        }

        _layout = new Raid5Layout(activeDisks.Count, chunkSize, stripes);
        var slots = new Member[activeDisks.Count];
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i] = new Member(activeDisks[i], i, names?[i] ?? $"disk{i}");
        }

        _spares = new List<Member>(spares.Count);
        for (int i = 0; i < spares.Count; i++)
        {
            int id = slots.Length + i;
            _spares.Add(new Member(spares[i], id, names?[id] ?? $"disk{id}"));
        }

        _config = new ArrayConfiguration(slots, failedSlot: -1, rebuild: null, lostMask: 0);
    }

    /// <summary>Human-readable events: member failures, rebuild start/finish, array failure.</summary>
    public event Action<string>? Log;

    public long Capacity => _layout.Capacity;

    public int ChunkSize => _layout.ChunkSize;

    /// <summary>Number of member slots (N), including a failed one.</summary>
    public int ActiveDiskCount => _layout.ActiveDisks;

    /// <summary>Idle hot spares (a spare being rebuilt onto is not counted).</summary>
    public int SpareCount
    {
        get
        {
            lock (_stateLock)
            {
                return _spares.Count;
            }
        }
    }

    public RaidState State => Volatile.Read(ref _config).State;

    /// <summary>
    /// Completes when the latest rebuild has ended and its outcome is recorded (a file-backed array has saved the
    /// new membership); an already completed task when no rebuild was ever started. Not the configuration's own
    /// rebuild: a finished rebuild leaves the configuration before it saves, and a caller who then saw "none
    /// running" could read the old membership on disk.
    /// </summary>
    public Task RebuildCompletion => Volatile.Read(ref _latestRebuild)?.Completion.Task ?? Task.CompletedTask;

    /// <summary>Fraction of the running rebuild done; 1 when the array is clean, 0 when degraded or failed.</summary>
    public double RebuildProgress
    {
        get
        {
            ArrayConfiguration config = Volatile.Read(ref _config);
            if (config.Rebuild is { } rebuild)
            {
                return (double)rebuild.Position / _layout.StripeCount;
            }

            return config.State == RaidState.Clean ? 1.0 : 0.0;
        }
    }

    /// <summary>Builds an array of <see cref="MemoryDisk"/>s (sparse, so large sizes are cheap).</summary>
    public static Raid5Array CreateInMemory(int activeDisks, int spares, long diskSize, int chunkSize = DefaultChunkSize)
    {
        CheckActiveCount(activeDisks, nameof(activeDisks));
        ArgumentOutOfRangeException.ThrowIfNegative(spares);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(diskSize);
        var active = new IMemberDisk[activeDisks];
        for (int i = 0; i < active.Length; i++)
        {
            active[i] = new MemoryDisk(diskSize);
        }

        var spareDisks = new IMemberDisk[spares];
        for (int i = 0; i < spareDisks.Length; i++)
        {
            spareDisks[i] = new MemoryDisk(diskSize);
        }

        return new Raid5Array(active, spareDisks, chunkSize);
    }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct = default)
    {
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }

        try
        {
            Read(offset, destination.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken ct = default)
    {
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }

        try
        {
            Write(offset, source.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    public ValueTask FlushAsync(CancellationToken ct = default)
    {
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }

        try
        {
            Flush();
            return ValueTask.CompletedTask;
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    /// <summary>
    /// Marks active member <paramref name="activeIndex"/> failed. The first failure degrades the
    /// array (reads reconstruct from parity) and starts a rebuild onto the first spare, if any;
    /// a failure while degraded or rebuilding fails the array. Failing a member twice does nothing.
    /// </summary>
    public void FailDisk(int activeIndex)
    {
        if (activeIndex < 0 || activeIndex >= _layout.ActiveDisks)
        {
            throw new ArgumentOutOfRangeException(
                nameof(activeIndex), activeIndex, $"Active disk index must be in [0, {_layout.ActiveDisks}).");
        }

        var messages = new List<string>(2);
        lock (_stateLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ArrayConfiguration config = _config;
            ulong bit = 1UL << activeIndex;
            if ((config.LostMask & bit) != 0)
            {
                return;
            }

            int lost = config.LostCount + 1;
            if (config.IsFailed)
            {
                _config = config.WithLost(config.LostMask | bit);
                messages.Add($"disk {activeIndex} failed: RAID-5 array failed: {lost} of {_layout.ActiveDisks} members lost");
            }
            else if (config.FailedSlot >= 0)
            {
                if (config.Rebuild is { } rebuild)
                {
                    // The rebuild loop notices the new configuration at its next stripe and stops.
                    rebuild.Cancellation.Cancel();
                    _spares.Insert(0, rebuild.Target);
                }

                _config = new ArrayConfiguration(config.Slots, config.FailedSlot, rebuild: null, config.LostMask | bit);
                messages.Add($"disk {activeIndex} failed: RAID-5 array failed: {lost} of {_layout.ActiveDisks} members lost");
            }
            else if (_spares.Count > 0)
            {
                Member target = _spares[0];
                _spares.RemoveAt(0);
                var rebuild = new RebuildState(target);
                _config = new ArrayConfiguration(config.Slots, activeIndex, rebuild, bit);
                Volatile.Write(ref _latestRebuild, rebuild);
                rebuild.Worker = Task.Run(() => RunRebuild(rebuild));
                messages.Add($"disk {activeIndex} ({config.Slots[activeIndex].Name}) failed, array degraded");
                messages.Add($"rebuild of disk {activeIndex} onto spare {target.Name} started");
            }
            else
            {
                _config = new ArrayConfiguration(config.Slots, activeIndex, rebuild: null, bit);
                messages.Add($"disk {activeIndex} ({config.Slots[activeIndex].Name}) failed, array degraded (no spare to rebuild onto)");
            }
        }

        foreach (string message in messages)
        {
            RaiseLog(message);
        }

        _membershipChanged?.Invoke();
    }

    /// <summary>
    /// Reads every stripe whose members are all present and checks that the XOR of its chunks is
    /// zero. Stripes with a missing member (degraded, not yet rebuilt) cannot be verified and are
    /// not counted. Runs alongside normal I/O, one stripe lock at a time.
    /// </summary>
    public ParityCheckResult CheckParity()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int chunk = _layout.ChunkSize;
        byte[] accumulator = ArrayPool<byte>.Shared.Rent(chunk);
        byte[] scratch = ArrayPool<byte>.Shared.Rent(chunk);
        long checkedStripes = 0;
        long inconsistent = 0;
        var listed = new List<long>();
        try
        {
            Span<byte> acc = accumulator.AsSpan(0, chunk);
            Span<byte> tmp = scratch.AsSpan(0, chunk);
            for (long stripe = 0; stripe < _layout.StripeCount; stripe++)
            {
                lock (_locks.For(stripe))
                {
                    ArrayConfiguration config = CurrentConfiguration();
                    if (config.MissingSlot(stripe) >= 0)
                    {
                        continue;
                    }

                    long position = _layout.MemberOffset(stripe);
                    config.DiskFor(0, stripe)!.Read(position, acc);
                    for (int slot = 1; slot < _layout.ActiveDisks; slot++)
                    {
                        config.DiskFor(slot, stripe)!.Read(position, tmp);
                        Xor.Into(acc, tmp);
                    }
                }

                checkedStripes++;
                if (acc.ContainsAnyExcept((byte)0))
                {
                    inconsistent++;
                    if (listed.Count < ParityCheckResult.MaxListedStripes)
                    {
                        listed.Add(stripe);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(accumulator);
            ArrayPool<byte>.Shared.Return(scratch);
        }

        return new ParityCheckResult(checkedStripes, inconsistent) { InconsistentStripeNumbers = listed };
    }

    public void Dispose()
    {
        RebuildState? rebuild;
        lock (_stateLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            rebuild = _config.Rebuild;
        }

        if (rebuild is not null)
        {
            rebuild.Cancellation.Cancel();
            if (rebuild.Worker is { } worker && worker.Id != Task.CurrentId)
            {
                try
                {
                    worker.Wait();
                }
                catch (AggregateException)
                {
                    // Only a throwing Log handler can fault the worker; the rebuild is over either way.
                }
            }
        }

        lock (_stateLock)
        {
            IEnumerable<Member> members = _config.Slots.Concat(_spares).Concat(_retired);
            if (rebuild is not null)
            {
                members = members.Append(rebuild.Target);
            }

            var disposed = new HashSet<IMemberDisk>(ReferenceEqualityComparer.Instance);
            foreach (Member member in members)
            {
                if (disposed.Add(member.Disk))
                {
                    member.Disk.Dispose();
                }
            }
        }
    }

    private static void CheckActiveCount(int count, string paramName)
    {
        if (count < 2 || count > MaxActiveDisks)
        {
            throw new ArgumentOutOfRangeException(
                paramName, count, $"A RAID-5 array needs between 2 and {MaxActiveDisks} active disks.");
        }
    }

    private static void CheckMembers(IReadOnlyList<IMemberDisk> disks, HashSet<IMemberDisk> seen, string paramName)
    {
        foreach (IMemberDisk? disk in disks)
        {
            if (disk is null)
            {
                throw new ArgumentException("Member disks must not be null.", paramName);
            }

            if (!seen.Add(disk))
            {
                throw new ArgumentException("The same member disk is listed twice.", paramName);
            }
        }
    }

    private static void CheckChunkSize(int chunkSize)
    {
        if (chunkSize <= 0 || chunkSize % SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(chunkSize), chunkSize, $"Chunk size must be a positive multiple of {SectorSize} bytes.");
        }
    }

    private void CheckRange(long offset, int length, string bufferName)
    {
        if (offset < 0 || offset % SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), offset, $"Offset must be a non-negative multiple of {SectorSize} bytes.");
        }

        if (length % SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(
                bufferName, length, $"Length must be a multiple of {SectorSize} bytes.");
        }

        if (offset > Capacity || length > Capacity - offset)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset),
                offset,
                $"Range [{offset}, {offset + length}) is beyond the array capacity of {Capacity} bytes.");
        }
    }

    /// <summary>The current configuration; throws if the array has failed. Call under a stripe lock for I/O.</summary>
    private ArrayConfiguration CurrentConfiguration()
    {
        ArrayConfiguration config = Volatile.Read(ref _config);
        if (config.IsFailed)
        {
            throw new RaidFailedException(config.LostCount, _layout.ActiveDisks);
        }

        return config;
    }

    private void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArrayConfiguration config = CurrentConfiguration();
        for (int slot = 0; slot < config.Slots.Length; slot++)
        {
            if (slot != config.FailedSlot)
            {
                config.Slots[slot].Disk.Flush();
            }
        }

        config.Rebuild?.Target.Disk.Flush();
    }

    private void RaiseLog(string message) => Log?.Invoke(message);

    /// <summary>A member disk with its identity: <see cref="Id"/> is its position in the constructor's lists (active, then spares).</summary>
    private sealed record Member(IMemberDisk Disk, int Id, string Name);

    /// <summary>A rebuild onto a spare: stripes below <see cref="Position"/> are already on <see cref="Target"/>.</summary>
    private sealed class RebuildState(Member target)
    {
        private long _position;

        public Member Target { get; } = target;

        public long Position
        {
            get => Volatile.Read(ref _position);
            set => Volatile.Write(ref _position, value);
        }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenSource Cancellation { get; } = new();

        public Task? Worker { get; set; }
    }

    /// <summary>Immutable membership snapshot. At most one slot is missing unless the array failed.</summary>
    private sealed class ArrayConfiguration(Member[] slots, int failedSlot, RebuildState? rebuild, ulong lostMask)
    {
        public Member[] Slots { get; } = slots;

        /// <summary>The lost active slot, or -1.</summary>
        public int FailedSlot { get; } = failedSlot;

        public RebuildState? Rebuild { get; } = rebuild;

        /// <summary>Bit <c>i</c> set when active slot <c>i</c> has been lost.</summary>
        public ulong LostMask { get; } = lostMask;

        public int LostCount => System.Numerics.BitOperations.PopCount(LostMask);

        public bool IsFailed => LostCount >= 2;

        public RaidState State => IsFailed ? RaidState.Failed
            : FailedSlot < 0 ? RaidState.Clean
            : Rebuild is not null ? RaidState.Rebuilding
            : RaidState.Degraded;

        public ArrayConfiguration WithLost(ulong lostMask) => new(Slots, FailedSlot, rebuild: null, lostMask);

        /// <summary>The disk that holds <paramref name="slot"/>'s chunk of the stripe, or null when it is missing.</summary>
        public IMemberDisk? DiskFor(int slot, long stripe)
        {
            if (slot != FailedSlot)
            {
                return Slots[slot].Disk;
            }

            return Rebuild is { } rebuild && stripe < rebuild.Position ? rebuild.Target.Disk : null;
        }

        /// <summary>The slot whose chunk of the stripe is unavailable, or -1.</summary>
        public int MissingSlot(long stripe) => FailedSlot >= 0 && DiskFor(FailedSlot, stripe) is null ? FailedSlot : -1;
    }
}
