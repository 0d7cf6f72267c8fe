using System.Buffers.Binary;
using System.Collections.Concurrent;
using IscsiUp.Iscsi.Scsi;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// The LUN behind an NBD export, end to end: NBD requests on a socket, the NBD server's block mapping, the
/// <see cref="LunBlockBackend"/>, a real iSCSI session and the bundled target. Checks the SCSI commands the LUN
/// receives (one per block request, split at the target's MaxTransferBlocks, FUA where asked) and the bytes
/// that end up on the target.
/// </summary>
public sealed class LunBlockBackendTests : IAsyncLifetime
{
    private const int MiB = 1 << 20;
    private const int Block = 512;
    private const uint MaxTransferBlocks = 16;
    private Raid5Array? _storage;
    private IscsiTarget? _target;
    private IscsiSession? _session;
    private RecordingSession? _recorder;
    private ScsiDisk? _disk;

    /// <summary>Passes commands to the session and keeps a copy of every CDB.</summary>
    private sealed class RecordingSession(IScsiSession inner) : IScsiSession
    {
        public ConcurrentQueue<byte[]> Cdbs { get; } = new();
        public string? TargetName => inner.TargetName;

        public ValueTask<ScsiResult> ExecuteAsync(ScsiCommand command, CancellationToken ct = default)
        {
            Cdbs.Enqueue(command.Cdb.ToArray());
            return inner.ExecuteAsync(command, ct);
        }

        public List<byte[]> Take(byte opcode)
        {
            var taken = new List<byte[]>();
            while (Cdbs.TryDequeue(out var cdb))
                if (cdb[0] == opcode) taken.Add(cdb);
            return taken;
        }
    }

    public async Task InitializeAsync()
    {
        _storage = Raid5Array.CreateInMemory(3, 0, 16 * MiB, 64 * 1024);
        _target = new IscsiTarget(new TargetOptions
        {
            TargetName = "iqn.2026-11.org.iscsi-up.test:lun-backend",
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = _storage },
            BlockLimits = new() { MaxTransferBlocks = MaxTransferBlocks },
        });
        await _target.StartAsync();
        _session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", _target.Port), new LoginOptions
        {
            InitiatorName = "iqn.2026-11.org.iscsi-up.test:lun-backend-client",
            TargetName = "iqn.2026-11.org.iscsi-up.test:lun-backend",
            Timeout = TimeSpan.FromSeconds(10),
        });
        _recorder = new RecordingSession(_session);
        _disk = await ScsiDisk.OpenAsync(_recorder, 0);
        _recorder.Cdbs.Clear();
    }

    public async Task DisposeAsync()
    {
        if (_session is not null) await _session.DisposeAsync();
        if (_target is not null) await _target.DisposeAsync();
    }

    private (NbdServer Server, RawNbdClient Client) Serve()
    {
        var server = new NbdServer(new NbdExport("lun0", new LunBlockBackend(_disk!)));
        var (serverEnd, clientEnd) = RawNbdClient.SocketPair();
        _ = server.ServeTransmissionAsync(serverEnd);
        return (server, new RawNbdClient(clientEnd));
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private async Task<byte[]> OnTargetAsync(long offset, int length)
    {
        var bytes = new byte[length];
        await _storage!.ReadAsync(offset, bytes);
        return bytes;
    }

    private static (ulong Lba, uint Blocks) Extent16(byte[] cdb) =>
        (BinaryPrimitives.ReadUInt64BigEndian(cdb.AsSpan(2)), BinaryPrimitives.ReadUInt32BigEndian(cdb.AsSpan(10)));

    /// <summary>The commands cover [lba, lba+blocks) in order-independent pieces of at most MaxTransferBlocks.</summary>
    private static void AssertCovers(List<byte[]> cdbs, ulong lba, uint blocks)
    {
        var extents = cdbs.Select(Extent16).OrderBy(e => e.Lba).ToList();
        Assert.All(extents, e => Assert.InRange(e.Blocks, 1u, MaxTransferBlocks));
        ulong next = lba;
        foreach (var (at, count) in extents)
        {
            Assert.Equal(next, at);
            next += count;
        }
        Assert.Equal(lba + blocks, next);
    }

    [Fact]
    public void Limits_and_capabilities_come_from_the_lun()
    {
        var backend = new LunBlockBackend(_disk!);
        Assert.Equal(Block, backend.BlockSize);
        Assert.Equal(_storage!.Capacity / Block, backend.BlockCount);
        Assert.Equal((int)MaxTransferBlocks, backend.MaxTransferBlocks);
        Assert.True(backend.Capabilities.HasFlag(BlockCapabilities.Flush));
        Assert.True(backend.Capabilities.HasFlag(BlockCapabilities.WriteZeroes));
        Assert.True(backend.Capabilities.HasFlag(BlockCapabilities.MultiConnection));
        Assert.True(backend.Capabilities.HasFlag(BlockCapabilities.Fua));
        Assert.True(backend.Capabilities.HasFlag(BlockCapabilities.Trim));
        Assert.False(backend.Capabilities.HasFlag(BlockCapabilities.ReadOnly));
    }

    [Fact]
    public async Task Writes_and_reads_become_write16_and_read16_split_at_max_transfer_blocks()
    {
        var (server, client) = Serve();
        await using var _ = server;
        await using var __ = client;
        const int blocks = 100;
        var data = Pattern(blocks * Block, 1);

        await client.SendRequestAsync(CmdWrite, 1, 8 * Block, (uint)data.Length, payload: data);
        Assert.Equal((0u, 1ul), await client.ReadSimpleReplyAsync());
        var writes = _recorder!.Take(ScsiOpcode.Write16);
        Assert.Equal((blocks + (int)MaxTransferBlocks - 1) / (int)MaxTransferBlocks, writes.Count);
        AssertCovers(writes, 8, blocks);
        Assert.All(writes, cdb => Assert.Equal(0, cdb[1] & 0x08));   // no FUA asked
        Assert.Equal(data, await OnTargetAsync(8 * Block, data.Length));

        await client.SendRequestAsync(CmdRead, 2, 8 * Block, (uint)data.Length);
        Assert.Equal((0u, 2ul), await client.ReadSimpleReplyAsync());
        Assert.Equal(data, await client.ReadBytesAsync(data.Length));
        var reads = _recorder.Take(ScsiOpcode.Read16);
        Assert.Equal(writes.Count, reads.Count);
        AssertCovers(reads, 8, blocks);
    }

    [Fact]
    public async Task Fua_write_sets_the_fua_bit_of_write16()
    {
        var (server, client) = Serve();
        await using var _ = server;
        await using var __ = client;
        var data = Pattern(4 * Block, 2);
        await client.SendRequestAsync(CmdWrite, 1, 0, (uint)data.Length, flags: CmdFlagFua, payload: data);
        Assert.Equal((0u, 1ul), await client.ReadSimpleReplyAsync());
        var cdbs = _recorder!.Cdbs.ToArray();
        var write = Assert.Single(cdbs, c => c[0] == ScsiOpcode.Write16);
        Assert.Equal((0ul, 4u), Extent16(write));
        Assert.True(_disk!.SupportsFua);   // the bundled target reports DPOFUA
        Assert.NotEqual(0, write[1] & 0x08);
        Assert.DoesNotContain(cdbs, c => c[0] == ScsiOpcode.SynchronizeCache16);
        Assert.Equal(data, await OnTargetAsync(0, data.Length));
    }

    [Fact]
    public async Task Flush_trim_and_write_zeroes_become_synchronize_cache_unmap_and_write_same()
    {
        var (server, client) = Serve();
        await using var _ = server;
        await using var __ = client;
        var data = Pattern(64 * Block, 3);
        await client.SendRequestAsync(CmdWrite, 1, 0, (uint)data.Length, payload: data);
        Assert.Equal((0u, 1ul), await client.ReadSimpleReplyAsync());
        _recorder!.Cdbs.Clear();

        await client.SendRequestAsync(CmdFlush, 2, 0, 0);
        Assert.Equal((0u, 2ul), await client.ReadSimpleReplyAsync());
        Assert.Single(_recorder.Take(ScsiOpcode.SynchronizeCache16));

        await client.SendRequestAsync(CmdWriteZeroes, 3, 16 * Block, 8 * Block, flags: (ushort)(CmdFlagNoHole | CmdFlagFua));
        Assert.Equal((0u, 3ul), await client.ReadSimpleReplyAsync());
        var sequence = _recorder.Cdbs.ToArray();
        var same = Assert.Single(sequence, c => c[0] == ScsiOpcode.WriteSame16);
        Assert.Equal((16ul, 8u), Extent16(same));
        Assert.Equal(0, same[1] & 0x08);   // NO_HOLE: no UNMAP bit
        Assert.Equal(ScsiOpcode.SynchronizeCache16, sequence[^1][0]);   // FUA: the zeroes are flushed
        Assert.Equal(new byte[8 * Block], await OnTargetAsync(16 * Block, 8 * Block));
        Assert.Equal(data.AsSpan(24 * Block).ToArray(), await OnTargetAsync(24 * Block, 40 * Block));
        _recorder.Cdbs.Clear();

        Assert.True(_disk!.Limits.UnmapSupported);
        await client.SendRequestAsync(CmdTrim, 4, 32 * Block, 8 * Block);
        Assert.Equal((0u, 4ul), await client.ReadSimpleReplyAsync());
        Assert.Single(_recorder.Take(ScsiOpcode.Unmap));
    }

    [Fact]
    public async Task A_target_without_write_same_gets_zeroes_written()
    {
        // The hostile disk answers WRITE SAME with INVALID COMMAND OPERATION CODE.
        await using var stack = await HostileNbdStack.StartAsync();
        Array.Fill(stack.Disk.Bytes, (byte)0xA5);
        int before = stack.Disk.BlockCommands;
        await stack.Client.SendRequestAsync(CmdWriteZeroes, 900, 4 * Block, 8 * Block);
        Assert.Equal((0u, 900ul), await stack.Client.ReadSimpleReplyAsync());
        Assert.Equal(new byte[8 * Block], stack.Disk.Bytes.AsSpan(4 * Block, 8 * Block).ToArray());
        Assert.Equal((byte)0xA5, stack.Disk.Bytes[4 * Block - 1]);
        Assert.Equal((byte)0xA5, stack.Disk.Bytes[12 * Block]);
        Assert.True(stack.Disk.BlockCommands > before);

        // Once refused, zeroes go straight to WRITE(16).
        await stack.Client.SendRequestAsync(CmdWriteZeroes, 901, 20 * Block, 2 * Block);
        Assert.Equal((0u, 901ul), await stack.Client.ReadSimpleReplyAsync());
        Assert.Equal(new byte[2 * Block], stack.Disk.Bytes.AsSpan(20 * Block, 2 * Block).ToArray());
        Assert.False(stack.Server.Exports[0].Backend.Capabilities.HasFlag(BlockCapabilities.WriteZeroes));
    }
}
