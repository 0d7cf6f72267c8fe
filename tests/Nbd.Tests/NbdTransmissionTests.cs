using System.Buffers.Binary;
using System.Collections.Concurrent;
using IscsiUp.Nbd;
using Xunit.Abstractions;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Nbd.Tests;

/// <summary>
/// The transmission-only path (what the kernel gets): a socketpair, no handshake, simple replies, requests
/// driven by hand.
/// </summary>
public sealed class NbdTransmissionTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private sealed class Session : IAsyncDisposable
    {
        public required RawNbdClient Client { get; init; }
        public required Task Serving { get; init; }
        public required MemoryBackend Backend { get; init; }
        public required ConcurrentQueue<string> Logs { get; init; }
        public required CancellationTokenSource Cts { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Cts.CancelAsync();
            await Serving.WaitAsync(Bound);
            Cts.Dispose();
        }
    }

    private Session Start(MemoryBackend? backend = null, NbdTransmissionOptions? options = null)
    {
        var (server, client) = RawNbdClient.SocketPair();
        backend ??= new MemoryBackend(capacity: 4 * 1024 * 1024);
        var logs = new ConcurrentQueue<string>();
        var cts = new CancellationTokenSource();
        var export = new NbdExport("kernel", backend);
        var serving = NbdTransmission.ServeAsync(server, export, options, line =>
        {
            logs.Enqueue(line);
            try
            {
                output.WriteLine(line);
            }
            catch (InvalidOperationException)
            {
            }
        }, cts.Token);
        return new Session { Client = new RawNbdClient(client), Serving = serving, Backend = backend, Logs = logs, Cts = cts };
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task Drain_answers_the_request_in_flight_then_closes_the_connection()
    {
        // A daemon handing its kernel device to its successor: the request it has taken must still be answered
        // (the kernel would otherwise wait for its request timeout), and then the connection ends by itself.
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new MemoryBackend(capacity: 4 * 1024 * 1024)
        {
            Delay = async (op, _, ct) =>
            {
                if (op != "write") return;
                entered.TrySetResult();
                await release.Task.WaitAsync(ct);
            },
        };
        var (server, client) = RawNbdClient.SocketPair();
        using var drain = new CancellationTokenSource();
        var serving = NbdTransmission.ServeAsync(server, new NbdExport("kernel", backend), null, output.WriteLine, CancellationToken.None, drain.Token);
        await using var raw = new RawNbdClient(client);
        var data = Pattern(4096, 7);

        await raw.SendRequestAsync(CmdWrite, 41, 8192, 4096, payload: data);
        await entered.Task.WaitAsync(Bound);
        await drain.CancelAsync();
        await Task.Delay(200);
        Assert.False(serving.IsCompleted, "the drained connection ended before answering the write in flight");
        release.SetResult();

        var (err, cookie) = await raw.ReadSimpleReplyAsync().WaitAsync(Bound);
        Assert.Equal(0u, err);
        Assert.Equal(41ul, cookie);
        Assert.Equal(data, backend.Peek(8192, 4096));
        await serving.WaitAsync(Bound);
        Assert.True(await raw.IsClosedByServerAsync(Bound), "the server kept the connection open after draining");
        Assert.Equal(0L, backend.Cancelled);
    }

    [Fact]
    public async Task Write_then_read_round_trips_and_echoes_cookies()
    {
        await using var s = Start();
        var data = Pattern(8192, 1);
        const ulong cookie = 0xDEADBEEFCAFEBABE;
        await s.Client.SendRequestAsync(CmdWrite, cookie, 4096, 8192, payload: data);
        var (err, c) = await s.Client.ReadSimpleReplyAsync();
        Assert.Equal(0u, err);
        Assert.Equal(cookie, c);
        Assert.Equal(data, s.Backend.Peek(4096, 8192));

        await s.Client.SendRequestAsync(CmdRead, ulong.MaxValue, 4096, 8192);
        (err, c) = await s.Client.ReadSimpleReplyAsync();
        Assert.Equal(0u, err);
        Assert.Equal(ulong.MaxValue, c);
        Assert.Equal(data, await s.Client.ReadBytesAsync(8192));
        Assert.Empty(s.Backend.Violations);
    }

    [Fact]
    public async Task Flush_trim_write_zeroes_and_fua_reach_the_backend()
    {
        await using var s = Start();
        var data = Pattern(128 * 1024, 2);
        s.Backend.Poke(0, data);

        await s.Client.SendRequestAsync(CmdFlush, 1, 0, 0);
        Assert.Equal((0u, 1ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(1, Interlocked.Read(ref s.Backend.Flushes));

        await s.Client.SendRequestAsync(CmdTrim, 2, 0, 65536);
        Assert.Equal((0u, 2ul), await s.Client.ReadSimpleReplyAsync());
        Assert.True(Interlocked.Read(ref s.Backend.Trims) >= 1);
        Assert.Equal(new byte[65536], s.Backend.Peek(0, 65536));

        await s.Client.SendRequestAsync(CmdWriteZeroes, 3, 65536, 32768, flags: CmdFlagNoHole);
        Assert.Equal((0u, 3ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(0, Interlocked.Read(ref s.Backend.Unmaps));
        Assert.Equal(new byte[32768], s.Backend.Peek(65536, 32768));
        Assert.Equal(data.AsSpan(98304).ToArray(), s.Backend.Peek(98304, 32768));

        await s.Client.SendRequestAsync(CmdWriteZeroes, 4, 98304, 512);
        Assert.Equal((0u, 4ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(1, Interlocked.Read(ref s.Backend.Unmaps));

        await s.Client.SendRequestAsync(CmdWrite, 5, 0, 4096, flags: CmdFlagFua, payload: Pattern(4096, 3));
        Assert.Equal((0u, 5ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(1, Interlocked.Read(ref s.Backend.FuaWrites));

        await s.Client.SendRequestAsync(CmdCache, 6, 0, 4096);
        Assert.Equal((0u, 6ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Empty(s.Backend.Violations);
    }

    [Fact]
    public async Task Out_of_range_and_invalid_requests_get_errors_and_the_connection_survives()
    {
        await using var s = Start();
        long cap = s.Backend.Capacity;

        await s.Client.SendRequestAsync(CmdRead, 10, (ulong)cap - 512, 1024);
        Assert.Equal((EInval, 10ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdRead, 11, ulong.MaxValue - 100, 512);
        Assert.Equal((EInval, 11ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdWrite, 12, (ulong)cap, 512, payload: new byte[512]);
        Assert.Equal((ENoSpc, 12ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdTrim, 13, (ulong)cap, 512);
        Assert.Equal((EInval, 13ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdWriteZeroes, 14, (ulong)cap - 512, 1024);
        Assert.Equal((ENoSpc, 14ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdBlockStatus, 15, 0, 512);
        Assert.Equal((EInval, 15ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(42, 16, 0, 0);
        Assert.Equal((EInval, 16ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdRead, 17, 0, 512, flags: CmdFlagDf);
        Assert.Equal((EInval, 17ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdWriteZeroes, 18, 0, 512, flags: CmdFlagFastZero);
        Assert.Equal((EInval, 18ul), await s.Client.ReadSimpleReplyAsync());

        // Over 32 MiB: refused, but a READ needs no payload skipped, so the connection continues.
        await s.Client.SendRequestAsync(CmdRead, 19, 0, MaxPayloadLength + 512u);
        Assert.Equal((EInval, 19ul), await s.Client.ReadSimpleReplyAsync());

        await s.Client.SendRequestAsync(CmdRead, 20, 0, 512);
        Assert.Equal((0u, 20ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(new byte[512], await s.Client.ReadBytesAsync(512));
        Assert.Empty(s.Backend.Violations);
        Assert.Equal(1, Interlocked.Read(ref s.Backend.Reads));
    }

    [Fact]
    public async Task Bad_magic_closes_the_connection_with_a_logged_reason()
    {
        await using var s = Start();
        await s.Client.SendRequestAsync(CmdRead, 1, 0, 512, magic: 0x12345678);
        Assert.True(await s.Client.IsClosedByServerAsync());
        await s.Serving.WaitAsync(Bound);
        Assert.Contains(s.Logs, l => l.Contains("bad magic", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Oversized_write_is_refused_and_the_connection_closed()
    {
        await using var s = Start();
        await s.Client.SendRequestAsync(CmdWrite, 7, 0, 64u * 1024 * 1024);
        Assert.Equal((EInval, 7ul), await s.Client.ReadSimpleReplyAsync());
        Assert.True(await s.Client.IsClosedByServerAsync());
        await s.Serving.WaitAsync(Bound);
        Assert.Equal(0, Interlocked.Read(ref s.Backend.Writes));
    }

    [Fact]
    public async Task Disc_finishes_outstanding_requests_then_closes()
    {
        var backend = new MemoryBackend(capacity: 1024 * 1024);
        backend.Delay = (_, _, ct) => Task.Delay(50, ct);
        await using var s = Start(backend);
        var data = Pattern(4096, 5);
        await s.Client.SendRequestAsync(CmdWrite, 1, 0, 4096, payload: data);
        await s.Client.SendRequestAsync(CmdRead, 2, 8192, 512);
        await s.Client.SendRequestAsync(CmdDisc, 3, 0, 0);
        var replies = new Dictionary<ulong, uint>();
        for (int i = 0; i < 2; i++)
        {
            var (err, cookie) = await s.Client.ReadSimpleReplyAsync();
            replies[cookie] = err;
            if (cookie == 2)
                await s.Client.ReadBytesAsync(512);
        }
        Assert.Equal(new Dictionary<ulong, uint> { [1] = 0, [2] = 0 }, replies);
        Assert.True(await s.Client.IsClosedByServerAsync());
        await s.Serving.WaitAsync(Bound);
        Assert.Equal(data, backend.Peek(0, 4096));
        Assert.Contains(s.Logs, l => l.Contains("NBD_CMD_DISC", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Large_requests_are_split_to_the_backend_limit()
    {
        await using var s = Start(new MemoryBackend(capacity: 8 * 1024 * 1024, maxTransferLength: 64 * 1024));
        var data = Pattern(3 * 1024 * 1024 + 4096, 6);
        await s.Client.SendRequestAsync(CmdWrite, 1, 512, (uint)data.Length, payload: data);
        Assert.Equal((0u, 1ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdRead, 2, 512, (uint)data.Length);
        Assert.Equal((0u, 2ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(data, await s.Client.ReadBytesAsync(data.Length));
        Assert.Empty(s.Backend.Violations);
        Assert.Equal(64 * 1024, s.Backend.MaxWriteLength);
        Assert.Equal(64 * 1024, s.Backend.MaxReadLength);
        Assert.True(Interlocked.Read(ref s.Backend.Writes) >= 49);
    }

    [Fact]
    public async Task Unaligned_writes_and_reads_use_read_modify_write()
    {
        await using var s = Start();
        var model = Pattern(16384, 7);
        s.Backend.Poke(0, model);

        async Task WriteAsync(ulong cookie, int offset, byte[] data)
        {
            await s.Client.SendRequestAsync(CmdWrite, cookie, (ulong)offset, (uint)data.Length, payload: data);
            Assert.Equal((0u, cookie), await s.Client.ReadSimpleReplyAsync());
            data.CopyTo(model, offset);
        }

        await WriteAsync(1, 1000, Pattern(100, 8));      // inside one block
        await WriteAsync(2, 1500, Pattern(3000, 9));     // head + whole blocks + tail
        await WriteAsync(3, 5000, Pattern(40, 10));      // crosses one block boundary, no whole block
        await WriteAsync(4, 8192, Pattern(700, 11));     // aligned start, partial tail
        Assert.Equal(model, s.Backend.Peek(0, model.Length));

        await s.Client.SendRequestAsync(CmdRead, 5, 777, 5000);
        Assert.Equal((0u, 5ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(model.AsSpan(777, 5000).ToArray(), await s.Client.ReadBytesAsync(5000));

        await s.Client.SendRequestAsync(CmdWriteZeroes, 6, 10001, 999);
        Assert.Equal((0u, 6ul), await s.Client.ReadSimpleReplyAsync());
        Array.Clear(model, 10001, 999);
        Assert.Equal(model, s.Backend.Peek(0, model.Length));

        // Trim is a hint: only whole blocks are discarded.
        await s.Client.SendRequestAsync(CmdTrim, 7, 12000, 2000);
        Assert.Equal((0u, 7ul), await s.Client.ReadSimpleReplyAsync());
        Array.Clear(model, 12288, 1536);
        Assert.Equal(model, s.Backend.Peek(0, model.Length));
        Assert.Empty(s.Backend.Violations);
    }

    [Fact]
    public async Task Concurrent_partial_writes_to_one_block_do_not_lose_updates()
    {
        await using var s = Start();
        const int pieces = 32;
        for (int i = 0; i < pieces; i++)
        {
            var piece = Enumerable.Repeat((byte)(i + 1), 16).ToArray();
            await s.Client.SendRequestAsync(CmdWrite, (ulong)i, 2048 + (ulong)i * 16, 16, payload: piece);
        }
        var cookies = new HashSet<ulong>();
        for (int i = 0; i < pieces; i++)
        {
            var (err, cookie) = await s.Client.ReadSimpleReplyAsync();
            Assert.Equal(0u, err);
            cookies.Add(cookie);
        }
        Assert.Equal(pieces, cookies.Count);
        var block = s.Backend.Peek(2048, 512);
        for (int i = 0; i < pieces; i++)
            Assert.All(block.AsSpan(i * 16, 16).ToArray(), b => Assert.Equal((byte)(i + 1), b));
    }

    [Fact]
    public async Task Requests_run_concurrently_and_replies_may_come_out_of_order()
    {
        var backend = new MemoryBackend(capacity: 1024 * 1024);
        // Earlier offsets take longer, so in-order processing would be visibly slower and in order.
        backend.Delay = (_, offset, ct) => Task.Delay(TimeSpan.FromMilliseconds(400 - offset / 4096 * 10), ct);
        await using var s = Start(backend);
        const int n = 32;
        for (int i = 0; i < n; i++)
            await s.Client.SendRequestAsync(CmdRead, 1000 + (ulong)i, (ulong)i * 4096, 512);
        var order = new List<ulong>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            var (err, cookie) = await s.Client.ReadSimpleReplyAsync();
            Assert.Equal(0u, err);
            await s.Client.ReadBytesAsync(512);
            order.Add(cookie);
        }
        Assert.Equal(Enumerable.Range(1000, n).Select(i => (ulong)i).ToHashSet(), order.ToHashSet());
        Assert.NotEqual(order.OrderBy(c => c).ToList(), order);
        Assert.True(backend.PeakConcurrency >= 8, $"peak concurrency {backend.PeakConcurrency}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task In_flight_requests_are_bounded_per_connection()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new MemoryBackend(capacity: 1024 * 1024) { Delay = (_, _, ct) => gate.Task.WaitAsync(ct) };
        await using var s = Start(backend, new NbdTransmissionOptions { MaxRequestsInFlight = 4 });
        for (int i = 0; i < 10; i++)
            await s.Client.SendRequestAsync(CmdRead, (ulong)i, 0, 512);
        var deadline = DateTime.UtcNow + Bound;
        while (backend.PeakConcurrency < 4 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        await Task.Delay(200);
        Assert.Equal(4, backend.PeakConcurrency);
        gate.SetResult();
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(0u, (await s.Client.ReadSimpleReplyAsync()).Error);
            await s.Client.ReadBytesAsync(512);
        }
    }

    [Fact]
    public async Task Backend_errors_map_to_nbd_errors()
    {
        var backend = new MemoryBackend(capacity: 1024 * 1024);
        backend.InjectError = (op, offset, _) => (op, offset) switch
        {
            ("read", 0) => new BlockBackendException("medium error", BlockError.Io),
            ("write", 0) => new BlockBackendException("full", BlockError.NoSpace),
            ("write", 512) => new BlockBackendException("write protected", BlockError.ReadOnly),
            ("write", 1024) => new BlockBackendException("bad lba", BlockError.Invalid),
            ("trim", 0) => new BlockBackendException("no unmap", BlockError.NotSupported),
            ("read", 4096) => new InvalidOperationException("bug"),
            _ => null,
        };
        await using var s = Start(backend);
        await s.Client.SendRequestAsync(CmdRead, 1, 0, 512);
        Assert.Equal((EIo, 1ul), await s.Client.ReadSimpleReplyAsync());   // no payload follows an error
        await s.Client.SendRequestAsync(CmdWrite, 2, 0, 512, payload: new byte[512]);
        Assert.Equal((ENoSpc, 2ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdWrite, 3, 512, 512, payload: new byte[512]);
        Assert.Equal((EPerm, 3ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdWrite, 4, 1024, 512, payload: new byte[512]);
        Assert.Equal((EInval, 4ul), await s.Client.ReadSimpleReplyAsync());
        // (A write zeroes refused as not supported is written from the zero buffer instead: see below.)
        await s.Client.SendRequestAsync(CmdTrim, 5, 0, 512);
        Assert.Equal((ENotSup, 5ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdRead, 6, 4096, 512);
        Assert.Equal((EIo, 6ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdRead, 7, 8192, 512);
        Assert.Equal((0u, 7ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.ReadBytesAsync(512);
        Assert.Contains(s.Logs, l => l.Contains("InvalidOperationException", StringComparison.Ordinal) && l.Contains("bug", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Read_only_export_refuses_writes_with_eperm()
    {
        await using var s = Start(new MemoryBackend(capacity: 1024 * 1024) { IsReadOnly = true });
        await s.Client.SendRequestAsync(CmdWrite, 1, 0, 512, payload: new byte[512]);
        Assert.Equal((EPerm, 1ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdTrim, 2, 0, 512);
        Assert.Equal((EPerm, 2ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdWriteZeroes, 3, 0, 512);
        Assert.Equal((EPerm, 3ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.SendRequestAsync(CmdRead, 4, 0, 512);
        Assert.Equal((0u, 4ul), await s.Client.ReadSimpleReplyAsync());
        await s.Client.ReadBytesAsync(512);
        Assert.Empty(s.Backend.Violations);
    }

    [Fact]
    public async Task Missing_backend_features_are_emulated_or_refused()
    {
        var backend = new MemoryBackend(capacity: 1024 * 1024) { SupportsFua = false, SupportsTrim = false, SupportsWriteZeroes = false, SupportsFlush = true };
        await using var s = Start(backend);
        backend.Poke(0, Pattern(8192, 12));
        await s.Client.SendRequestAsync(CmdWriteZeroes, 1, 0, 8192);
        Assert.Equal((0u, 1ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(new byte[8192], backend.Peek(0, 8192));
        Assert.Equal(0, Interlocked.Read(ref backend.ZeroWrites));

        await s.Client.SendRequestAsync(CmdTrim, 2, 0, 512);
        Assert.Equal((EInval, 2ul), await s.Client.ReadSimpleReplyAsync());

        // FUA without native support becomes write + flush.
        await s.Client.SendRequestAsync(CmdWrite, 3, 0, 512, flags: CmdFlagFua, payload: new byte[512]);
        Assert.Equal((0u, 3ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(0, Interlocked.Read(ref backend.FuaWrites));
        Assert.Equal(1, Interlocked.Read(ref backend.Flushes));
        Assert.Empty(backend.Violations);
    }

    [Fact]
    public async Task Write_zeroes_the_backend_refuses_are_written_from_the_zero_buffer()
    {
        // A target that turns out to lack WRITE SAME: the backend claims native zeroing and refuses it.
        var backend = new MemoryBackend(capacity: 1024 * 1024, maxTransferLength: 16 * 1024) { RefuseWriteZeroes = true };
        await using var s = Start(backend);
        backend.Poke(0, Pattern(64 * 1024, 13));
        await s.Client.SendRequestAsync(CmdWriteZeroes, 1, 512, 48 * 1024, flags: CmdFlagFua);
        Assert.Equal((0u, 1ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(new byte[48 * 1024], backend.Peek(512, 48 * 1024));
        Assert.Equal(Pattern(64 * 1024, 13).AsSpan(49 * 1024).ToArray(), backend.Peek(49 * 1024, 15 * 1024));
        Assert.True(Interlocked.Read(ref backend.RefusedZeroWrites) >= 1);
        Assert.Equal(0, Interlocked.Read(ref backend.ZeroWrites));
        Assert.Equal(1, Interlocked.Read(ref backend.Flushes));
        Assert.Empty(backend.Violations);
    }

    [Fact]
    public async Task Trim_and_write_zeroes_are_split_to_the_backend_limits()
    {
        var backend = new MemoryBackend(capacity: 1024 * 1024, maxTransferLength: 64 * 1024) { MaxTrimBlocks = 8, MaxZeroBlocks = 16 };
        await using var s = Start(backend);
        await s.Client.SendRequestAsync(CmdTrim, 1, 0, 256 * 1024);
        Assert.Equal((0u, 1ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(64, Interlocked.Read(ref backend.Trims));
        Assert.Equal(8 * 512, backend.MaxTrimLength);
        await s.Client.SendRequestAsync(CmdWriteZeroes, 2, 0, 256 * 1024);
        Assert.Equal((0u, 2ul), await s.Client.ReadSimpleReplyAsync());
        Assert.Equal(32, Interlocked.Read(ref backend.ZeroWrites));
        Assert.Equal(16 * 512, backend.MaxZeroesLength);
        Assert.Empty(backend.Violations);
    }

    [Fact]
    public async Task Client_closing_mid_payload_ends_only_that_connection()
    {
        await using var s = Start();
        var header = new byte[NbdConstants.RequestHeaderLength];
        new NbdRequest(0, CmdWrite, 1, 0, 65536).WriteTo(header);
        await s.Client.WriteAsync(header);
        await s.Client.WriteAsync(new byte[1000]);
        s.Client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        await s.Serving.WaitAsync(Bound);
        Assert.Contains(s.Logs, l => l.Contains("WRITE payload", StringComparison.Ordinal));
        Assert.Equal(0, Interlocked.Read(ref s.Backend.Writes));
    }

    [Fact]
    public async Task Server_serves_a_transmission_socket_for_its_default_export()
    {
        var backend = new MemoryBackend(capacity: 1024 * 1024);
        await using var server = new NbdServer(new NbdExport("only", backend)) { Log = output.WriteLine };
        var (srv, cli) = RawNbdClient.SocketPair();
        var serving = server.ServeTransmissionAsync(srv);
        await using var client = new RawNbdClient(cli);
        var data = Pattern(1024, 13);
        await client.SendRequestAsync(CmdWrite, 9, 1024, 1024, payload: data);
        Assert.Equal((0u, 9ul), await client.ReadSimpleReplyAsync());
        Assert.Equal(1, server.ConnectionCount);
        await client.SendRequestAsync(CmdDisc, 10, 0, 0);
        await serving.WaitAsync(Bound);
        Assert.Equal(data, backend.Peek(1024, 1024));
        Assert.Equal(0, server.ConnectionCount);
    }

    [Fact]
    public void Request_header_round_trips()
    {
        var buf = new byte[28];
        var req = new NbdRequest(CmdFlagFua, CmdWrite, 0x0102030405060708, 0x1122334455667788, 0x99aabbcc);
        req.WriteTo(buf);
        Assert.Equal(RequestMagic, BinaryPrimitives.ReadUInt32BigEndian(buf));
        Assert.True(NbdRequest.TryParse(buf, out var parsed));
        Assert.Equal(req, parsed);
        buf[0] ^= 0xff;
        Assert.False(NbdRequest.TryParse(buf, out _));
    }
}
