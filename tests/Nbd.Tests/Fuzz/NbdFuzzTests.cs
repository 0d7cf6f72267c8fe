using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Net.Sockets;
using System.Text;
using IscsiUp.Nbd;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Nbd.Tests;
using Xunit.Abstractions;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Nbd.Tests.Fuzz;

/// <summary>Runs alone (after the parallel tests): the allocation and memory checks watch process-wide counters.</summary>
[CollectionDefinition(nameof(ExclusiveFuzzCollection), DisableParallelization = true)]
public sealed class ExclusiveFuzzCollection;

/// <summary>
/// The NBD server against hostile clients: random and mutated handshakes, random transmission-phase requests,
/// requests claiming gigabytes. A bad connection is closed with a logged reason, its serving task never faults,
/// the backend never sees a request outside its contract, nothing is allocated for a length beyond the protocol
/// limit, and a well-behaved client is served normally afterwards.
/// </summary>
[Collection(nameof(ExclusiveFuzzCollection))]
public sealed class NbdFuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);
    private const long Capacity = 1024 * 1024;

    // ---- script building ----

    private static void U16(List<byte> b, ushort v) { b.Add((byte)(v >> 8)); b.Add((byte)v); }
    private static void U32(List<byte> b, uint v) { for (int s = 24; s >= 0; s -= 8) b.Add((byte)(v >> s)); }
    private static void U64(List<byte> b, ulong v) { for (int s = 56; s >= 0; s -= 8) b.Add((byte)(v >> s)); }

    private static void Option(List<byte> b, uint option, byte[] data, uint? claimedLength = null)
    {
        U64(b, IHaveOpt);
        U32(b, option);
        U32(b, claimedLength ?? (uint)data.Length);
        b.AddRange(data);
    }

    private static byte[] Noise(Random r, int length)
    {
        var n = new byte[length];
        r.NextBytes(n);
        return n;
    }

    private static string ExportName(Random r) => r.Next(5) switch
    {
        0 => "",
        1 => "nope",
        2 => Encoding.Latin1.GetString(Noise(r, r.Next(0, 40))),
        _ => "disk",
    };

    /// <summary>A handshake that mostly follows the protocol, with random options, names and lengths.</summary>
    private static List<byte> Handshake(Random r, out bool entersTransmission, out bool aborts)
    {
        var b = new List<byte>();
        entersTransmission = false;
        aborts = false;
        U32(b, r.Next(10) == 0 ? (uint)r.Next() : (uint)r.Next(4));
        for (int i = r.Next(0, 8); i >= 0; i--)
        {
            switch (r.Next(12))
            {
                case 0: Option(b, OptList, r.Next(4) == 0 ? Noise(r, r.Next(1, 8)) : []); break;
                case 1: Option(b, OptStructuredReply, r.Next(4) == 0 ? [1] : []); break;
                case 2: Option(b, OptInfo, RawNbdClient.InfoRequest(ExportName(r), [.. Enumerable.Range(0, r.Next(4)).Select(_ => (ushort)r.Next(6))])); break;
                case 3: Option(b, OptListMetaContext, Noise(r, r.Next(0, 40))); break;
                case 4: Option(b, OptSetMetaContext, Noise(r, r.Next(0, 40))); break;
                case 5: Option(b, (uint)r.Next(11, 1000), Noise(r, r.Next(0, 100))); break;
                case 6: Option(b, OptStartTls, []); break;
                case 7: Option(b, (uint)r.Next(1, 12), [], claimedLength: r.Next(3) switch { 0 => 0xFFFF_FFFF, 1 => (uint)r.Next(16 * 1024, 2 * 1024 * 1024), _ => (uint)r.Next(1, 100) }); break;
                case 8:
                    var info = RawNbdClient.InfoRequest("disk");
                    BinaryPrimitives.WriteUInt32BigEndian(info, (uint)r.Next()); // name length beyond the data
                    Option(b, r.Next(2) == 0 ? OptGo : OptInfo, info);
                    break;
                case 9:
                    if (r.Next(3) == 0) { Option(b, OptAbort, []); aborts = true; return b; }
                    break;
                default:
                    string name = ExportName(r);
                    if (r.Next(4) == 0) Option(b, OptExportName, Encoding.Latin1.GetBytes(name));
                    else Option(b, OptGo, RawNbdClient.InfoRequest(name, [.. Enumerable.Range(0, r.Next(3)).Select(_ => (ushort)r.Next(4))]));
                    entersTransmission = name is "disk" or "";
                    if (entersTransmission) return b;
                    break;
            }
        }
        return b;
    }

    /// <summary>Random requests: well-formed ones with their payloads, and impossible ones.</summary>
    private static List<byte> Requests(Random r, int count)
    {
        var b = new List<byte>();
        for (int i = 0; i < count; i++)
        {
            ushort type = r.Next(10) switch { 0 => (ushort)r.Next(8, 0x10000), 1 => CmdRead, 2 => CmdRead, 3 => CmdWrite, 4 => CmdWrite, 5 => CmdFlush, 6 => CmdTrim, 7 => CmdWriteZeroes, 8 => CmdCache, _ => (ushort)r.Next(8) };
            if (type == CmdDisc && r.Next(3) != 0) type = CmdRead;
            ushort flags = r.Next(4) == 0 ? (ushort)r.Next(0x10000) : r.Next(3) == 0 ? CmdFlagFua : (ushort)0;
            ulong offset = r.Next(6) switch
            {
                0 => (ulong)r.NextInt64(),
                1 => Capacity - (ulong)r.Next(0, 4096),
                2 => ulong.MaxValue - (ulong)r.Next(0, 4096),
                _ => (ulong)r.NextInt64(0, Capacity),
            };
            uint length = r.Next(8) switch
            {
                0 => (uint)r.Next(),
                1 => 0,
                2 => 0xFFFF_FFFF,
                3 => 3u << 30, // 3 GiB
                4 => (uint)MaxPayloadLength + (uint)r.Next(1, 1 << 20),
                _ => (uint)r.Next(1, 128 * 1024),
            };
            if (type == CmdWrite && length > 128 * 1024 && length <= MaxPayloadLength) length = (uint)r.Next(1, 128 * 1024); // claims either sent in full or beyond the limit
            U32(b, r.Next(30) == 0 ? (uint)r.Next() : RequestMagic);
            U16(b, flags);
            U16(b, type);
            U64(b, (ulong)r.NextInt64());
            U64(b, offset);
            U32(b, length);
            if (type == CmdWrite && length <= MaxPayloadLength) b.AddRange(Noise(r, (int)length));
            if (type == CmdDisc) break;
        }
        return b;
    }

    /// <summary>Whether the bytes contain an NBD_OPT_ABORT option header: a client that asks to leave is not a bad connection.</summary>
    private static bool AsksToAbort(byte[] bytes)
    {
        var pattern = new List<byte>();
        U64(pattern, IHaveOpt);
        U32(pattern, OptAbort);
        return bytes.AsSpan().IndexOf(pattern.ToArray()) >= 0;
    }

    private static byte[] Mutate(Random r, List<byte> script)
    {
        switch (r.Next(6))
        {
            case 0 when script.Count > 0:
                for (int i = r.Next(1, 6); i > 0; i--) script[r.Next(script.Count)] ^= (byte)r.Next(1, 256);
                break;
            case 1 when script.Count > 0:
                int cut = r.Next(script.Count);
                script.RemoveRange(cut, script.Count - cut);
                break;
            case 2:
                script.InsertRange(r.Next(script.Count + 1), Noise(r, r.Next(1, 64)));
                break;
            case 3:
                return Noise(r, r.Next(0, 400));
        }
        return [.. script];
    }

    // ---- driving a connection ----

    private sealed record Outcome(bool ClosedByServer, long ReplyBytes);

    /// <summary>
    /// Sends <paramref name="script"/> (tolerating the server hanging up first), half-closes, and reads everything the
    /// server says until it closes. Fails if the server neither closes nor finishes within the bound.
    /// </summary>
    private static async Task<Outcome> PlayAsync(Socket client, byte[] script, Random r)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        using var cts = new CancellationTokenSource(Bound);
        var drain = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            long total = 0;
            try
            {
                while (true)
                {
                    int n = await stream.ReadAsync(buffer, cts.Token);
                    if (n == 0) return new Outcome(true, total);
                    total += n;
                }
            }
            catch (IOException) { return new Outcome(true, total); }
        });
        try
        {
            // All at once or in small random pieces; the greeting is drained with the replies.
            int offset = 0;
            while (offset < script.Length)
            {
                int n = Math.Min(script.Length - offset, r.Next(2) == 0 ? script.Length : r.Next(1, 512));
                await stream.WriteAsync(script.AsMemory(offset, n), cts.Token);
                offset += n;
            }
            client.Shutdown(SocketShutdown.Send);
        }
        catch (IOException) { } // the server may close as soon as it has seen enough
        catch (SocketException) { }
        return await drain.WaitAsync(Bound);
    }

    private NbdServer NewServer(MemoryBackend backend, ConcurrentQueue<string> logs, params NbdExport[] more) =>
        new([new NbdExport("disk", backend, "fuzzed disk"), .. more])
        {
            Log = line => logs.Enqueue(line),
            HandshakeTimeout = TimeSpan.FromSeconds(10),
            TransmissionOptions = new NbdTransmissionOptions { MaxRequestsInFlight = 16, MaxBytesInFlight = 4 * 1024 * 1024 },
        };

    [Fact]
    public async Task Random_and_mutated_handshakes_and_requests_close_only_that_connection()
    {
        var backend = new MemoryBackend(capacity: Capacity, maxTransferLength: 16 * 1024);
        var logs = new ConcurrentQueue<string>();
        await using var server = NewServer(backend, logs);
        using var pool = new PoolWatch();
        int transmission = 0;

        await FuzzRunner.RunAsync(defaultSeed: 9_000, defaultCases: 300, TimeSpan.FromSeconds(120), async (seed, r) =>
        {
            // A quarter of the cases skip the handshake, as the kernel client does.
            bool kernel = r.Next(4) == 0;
            bool enters = kernel, aborts = false;
            var script = kernel ? [] : Handshake(r, out enters, out aborts);
            if (enters || r.Next(4) == 0) script.AddRange(Requests(r, r.Next(1, 12)));
            if (enters) transmission++;
            bool mutated = r.Next(3) == 0;
            byte[] bytes = mutated ? Mutate(r, script) : [.. script];
            int logged = logs.Count;

            var (serverSide, clientSide) = RawNbdClient.SocketPair();
            var serving = kernel ? server.ServeTransmissionAsync(serverSide) : server.ServeConnectionAsync(serverSide);
            var outcome = await PlayAsync(clientSide, bytes, r);
            await serving.WaitAsync(Bound); // never faults, whatever the client did
            Assert.True(serving.IsCompletedSuccessfully);
            Assert.True(logs.Count > logged || aborts || AsksToAbort(bytes),
                $"the connection ended without a logged reason (kernel {kernel}, mutated {mutated}, {bytes.Length} bytes sent, " +
                $"{outcome.ReplyBytes} received: {Convert.ToHexString(bytes.AsSpan(0, Math.Min(bytes.Length, 64)))})");
            Assert.Empty(backend.Violations);
        });

        output.WriteLine($"{transmission} scripts entered transmission; largest pool rent {pool.Largest} bytes");
        Assert.True(transmission > 50, $"only {transmission} scripts reached the transmission phase");
        // Claims beyond the 32 MiB protocol limit never turn into buffers (claims up to it do: see the skipped test below).
        Assert.True(pool.Largest <= MaxPayloadLength, $"a {pool.Largest}-byte buffer was rented");
        Assert.Equal(0, server.ConnectionCount);
        await AssertWellBehavedClientWorksAsync(server, backend);
    }

    [Fact]
    public async Task Hostile_clients_through_the_listener_do_not_stop_the_accept_loop()
    {
        var backend = new MemoryBackend(capacity: Capacity, maxTransferLength: 16 * 1024);
        var logs = new ConcurrentQueue<string>();
        await using var server = NewServer(backend, logs);
        var endpoint = server.ListenTcp(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        await server.StartAsync();

        await FuzzRunner.RunAsync(defaultSeed: 9_500, defaultCases: 60, TimeSpan.FromSeconds(120), async (seed, r) =>
        {
            var script = Handshake(r, out bool enters, out _);
            if (enters) script.AddRange(Requests(r, r.Next(1, 8)));
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(endpoint);
            await PlayAsync(socket, Mutate(r, script), r);
        });

        var deadline = DateTime.UtcNow + Bound;
        while (server.ConnectionCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, server.ConnectionCount);
        Assert.Empty(backend.Violations);
        Assert.DoesNotContain(logs, l => l.Contains("accept on", StringComparison.Ordinal));
        await using var c = await RawNbdClient.ConnectTcpAsync(endpoint);
        await c.StartHandshakeAsync();
        Assert.Equal(RepAck, (await c.GoAsync("disk")).Final);
        await c.SendRequestAsync(CmdRead, 1, 0, 4096);
        Assert.Equal((0u, 1ul), await c.ReadSimpleReplyAsync());
        Assert.Equal(4096, (await c.ReadBytesAsync(4096)).Length);
    }

    [Theory]
    [InlineData(3u << 30)]
    [InlineData(0xFFFF_FFFFu)]
    [InlineData((uint)MaxPayloadLength + 1)]
    public async Task A_write_claiming_more_than_the_protocol_limit_is_refused_without_allocating(uint claimed)
    {
        var backend = new MemoryBackend(capacity: Capacity);
        var logs = new ConcurrentQueue<string>();
        await using var server = NewServer(backend, logs);
        using var pool = new PoolWatch();
        var (serverSide, clientSide) = RawNbdClient.SocketPair();
        var serving = server.ServeTransmissionAsync(serverSide);
        await using var c = new RawNbdClient(clientSide);

        await c.SendRequestAsync(CmdWrite, 0x5eed, 0, claimed, payload: new byte[4096]); // a token payload, far short of the claim
        Assert.Equal((EInval, 0x5eedul), await c.ReadSimpleReplyAsync());
        Assert.True(await c.IsClosedByServerAsync(Bound));
        await serving.WaitAsync(Bound);

        Assert.True(pool.Largest < 1024 * 1024, $"a {pool.Largest}-byte buffer was rented for a refused {claimed}-byte write");
        Assert.Equal(0, Interlocked.Read(ref backend.Writes));
        Assert.Contains(logs, l => l.Contains($"WRITE of {claimed} bytes exceeds", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Random_well_formed_requests_match_a_model_and_bad_ones_get_errors_on_a_live_connection()
    {
        var backend = new MemoryBackend(capacity: Capacity, maxTransferLength: 8 * 1024);
        var logs = new ConcurrentQueue<string>();
        await using var server = NewServer(backend, logs);
        var (serverSide, clientSide) = RawNbdClient.SocketPair();
        var serving = server.ServeTransmissionAsync(serverSide);
        await using var c = new RawNbdClient(clientSide);
        var model = new byte[Capacity];

        await FuzzRunner.RunAsync(defaultSeed: 10_000, defaultCases: 600, TimeSpan.FromSeconds(120), async (seed, r) =>
        {
            ulong cookie = (ulong)seed;
            long offset = r.NextInt64(0, Capacity);
            int length = (int)Math.Min(Capacity - offset, r.Next(0, 3) == 0 ? r.Next(0, 40 * 1024) : r.Next(0, 2048));
            ushort flags = r.Next(3) == 0 ? CmdFlagFua : (ushort)0;
            switch (r.Next(9))
            {
                case 0 or 1:
                {
                    var data = Noise(r, length);
                    await c.SendRequestAsync(CmdWrite, cookie, (ulong)offset, (uint)length, flags, data);
                    Assert.Equal((0u, cookie), await c.ReadSimpleReplyAsync());
                    data.CopyTo(model, offset);
                    break;
                }
                case 2 or 3:
                    await c.SendRequestAsync(CmdRead, cookie, (ulong)offset, (uint)length, flags);
                    Assert.Equal((0u, cookie), await c.ReadSimpleReplyAsync());
                    var back = await c.ReadBytesAsync(length);
                    Assert.True(back.AsSpan().SequenceEqual(model.AsSpan((int)offset, length)), $"read {offset}+{length} differs from the model");
                    break;
                case 4:
                {
                    await c.SendRequestAsync(CmdTrim, cookie, (ulong)offset, (uint)length, flags);
                    Assert.Equal((0u, cookie), await c.ReadSimpleReplyAsync());
                    // TRIM may discard whole blocks inside the range (they then read as zero); nothing else changes.
                    await c.SendRequestAsync(CmdRead, cookie + 1, 0, (uint)Capacity);
                    Assert.Equal((0u, cookie + 1), await c.ReadSimpleReplyAsync());
                    var after = await c.ReadBytesAsync((int)Capacity);
                    CheckTrim(model, after, offset, length);
                    after.CopyTo(model, 0);
                    break;
                }
                case 5:
                    await c.SendRequestAsync(CmdWriteZeroes, cookie, (ulong)offset, (uint)length, (ushort)(flags | (r.Next(2) == 0 ? CmdFlagNoHole : 0)));
                    Assert.Equal((0u, cookie), await c.ReadSimpleReplyAsync());
                    model.AsSpan((int)offset, length).Clear();
                    break;
                case 6:
                    await c.SendRequestAsync(r.Next(2) == 0 ? CmdFlush : CmdCache, cookie, 0, 0);
                    Assert.Equal((0u, cookie), await c.ReadSimpleReplyAsync());
                    break;
                case 7:
                {
                    // Beyond the end, or an unknown command: an error, and the connection carries on.
                    ushort type = r.Next(2) == 0 ? (ushort)r.Next(8, 1000) : new[] { CmdRead, CmdTrim, CmdWriteZeroes, CmdCache }[r.Next(4)];
                    ulong at = type >= 8 ? (ulong)offset : (ulong)Capacity - (ulong)r.Next(0, 512);
                    uint len = type >= 8 ? (uint)length : (uint)r.Next(513, 4096);
                    await c.SendRequestAsync(type, cookie, at, len);
                    var (error, echoed) = await c.ReadSimpleReplyAsync();
                    Assert.Equal(cookie, echoed);
                    Assert.True(error is EInval or ENoSpc, $"error {error} for {NbdRequest.NameOf(type)} {at}+{len}");
                    break;
                }
                default:
                {
                    // Unsupported flags on a write: refused after its payload, which must not be applied.
                    var data = Noise(r, Math.Max(length, 1));
                    await c.SendRequestAsync(CmdWrite, cookie, (ulong)Math.Min(offset, Capacity - data.Length), (uint)data.Length, (ushort)(CmdFlagReqOne | CmdFlagFua), data);
                    Assert.Equal((EInval, cookie), await c.ReadSimpleReplyAsync());
                    break;
                }
            }
        });

        Assert.Empty(backend.Violations);
        await c.SendRequestAsync(CmdDisc, 0, 0, 0);
        await serving.WaitAsync(Bound);
    }

    private static void CheckTrim(byte[] model, byte[] after, long offset, int length)
    {
        long firstBlock = (offset + 511) / 512 * 512, endBlock = (offset + length) / 512 * 512;
        for (long block = 0; block < model.Length; block += 512)
        {
            var now = after.AsSpan((int)block, 512);
            var before = model.AsSpan((int)block, 512);
            bool inside = block >= firstBlock && block + 512 <= endBlock;
            Assert.True(now.SequenceEqual(before) || (inside && !now.ContainsAnyExcept((byte)0)),
                $"block at {block} changed by TRIM {offset}+{length}");
        }
    }

    private async Task AssertWellBehavedClientWorksAsync(NbdServer server, MemoryBackend backend)
    {
        var (serverSide, clientSide) = RawNbdClient.SocketPair();
        var serving = server.ServeConnectionAsync(serverSide);
        await using (var c = new RawNbdClient(clientSide))
        {
            await c.StartHandshakeAsync();
            Assert.Equal(RepAck, (await c.GoAsync("disk")).Final);
            var data = Noise(new Random(42), 8192);
            await c.SendRequestAsync(CmdWrite, 1, 4096, (uint)data.Length, payload: data);
            Assert.Equal((0u, 1ul), await c.ReadSimpleReplyAsync());
            await c.SendRequestAsync(CmdRead, 2, 4096, (uint)data.Length);
            Assert.Equal((0u, 2ul), await c.ReadSimpleReplyAsync());
            Assert.Equal(data, await c.ReadBytesAsync(data.Length));
            await c.SendRequestAsync(CmdDisc, 3, 0, 0);
            Assert.True(await c.IsClosedByServerAsync(Bound));
        }
        await serving.WaitAsync(Bound);
        Assert.Empty(backend.Violations);
        output.WriteLine("a well-behaved client was served after the fuzzing");
    }
}

/// <summary>Watches the shared byte array pool (process-wide) and remembers the largest buffer rented while it lives.</summary>
internal sealed class PoolWatch : EventListener
{
    private long _largest;
    private volatile bool _ready;

    public PoolWatch()
    {
        _ready = true;
        foreach (var source in EventSource.GetSources())
            if (source.Name == "System.Buffers.ArrayPoolEventSource") EnableEvents(source, EventLevel.Verbose);
    }

    public long Largest => Interlocked.Read(ref _largest);

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (_ready && source.Name == "System.Buffers.ArrayPoolEventSource") EnableEvents(source, EventLevel.Verbose);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_ready || e.EventName is not ("BufferRented" or "BufferAllocated") || e.Payload is not { Count: > 1 }) return;
        long size = Convert.ToInt64(e.Payload[1]);
        long current;
        while (size > (current = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, size, current) != current) { }
    }
}
