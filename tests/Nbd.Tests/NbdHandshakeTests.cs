using System.Buffers.Binary;
using System.Text;
using IscsiUp.Nbd;
using Xunit.Abstractions;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Nbd.Tests;

/// <summary>Fixed-newstyle negotiation driven by hand against a listening server.</summary>
public sealed class NbdHandshakeTests(ITestOutputHelper output)
{
    private NbdTestServer NewServer(MemoryBackend? backend = null) =>
        new(output, backend ?? new MemoryBackend(capacity: 2 * 1024 * 1024), "disk", "test disk", null,
            new NbdExport("spare", new MemoryBackend(capacity: 1024 * 1024) { IsReadOnly = true, SupportsMultiConnection = false }));

    [Fact]
    public async Task Greeting_list_info_and_go()
    {
        await using var server = NewServer();
        await using var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint);
        Assert.Equal(FlagFixedNewstyle | FlagNoZeroes, await c.ReadGreetingAsync());
        var flags = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(flags, ClientFlagFixedNewstyle | ClientFlagNoZeroes);
        await c.WriteAsync(flags);

        await c.SendOptionAsync(OptList);
        var names = new List<(string, string)>();
        while (true)
        {
            var (opt, type, data) = await c.ReadOptionReplyAsync();
            Assert.Equal(OptList, opt);
            if (type == RepAck)
                break;
            Assert.Equal(RepServer, type);
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(data);
            names.Add((Encoding.UTF8.GetString(data, 4, len), Encoding.UTF8.GetString(data, 4 + len, data.Length - 4 - len)));
        }
        Assert.Equal(new[] { ("disk", "test disk"), ("spare", "") }, names);

        // Unknown options are refused without breaking the negotiation.
        await c.SendOptionAsync(0x1234, [1, 2, 3]);
        Assert.Equal(RepErrUnsup, (await c.ReadOptionReplyAsync()).Type);
        await c.SendOptionAsync(OptStartTls);
        Assert.Equal(RepErrUnsup, (await c.ReadOptionReplyAsync()).Type);

        var (infos, final, message) = await c.GoAsync("nosuch", OptInfo);
        Assert.Equal(RepErrUnknown, final);
        Assert.Empty(infos);
        Assert.Contains("nosuch", Encoding.UTF8.GetString(message));

        (infos, final, _) = await c.GoAsync("spare", OptInfo, InfoName, InfoDescription, InfoBlockSize);
        Assert.Equal(RepAck, final);
        var export = infos.Single(i => BinaryPrimitives.ReadUInt16BigEndian(i) == InfoExport);
        Assert.Equal(1024ul * 1024, BinaryPrimitives.ReadUInt64BigEndian(export.AsSpan(2)));
        ushort tflags = BinaryPrimitives.ReadUInt16BigEndian(export.AsSpan(10));
        Assert.Equal(FlagHasFlags | FlagReadOnly | FlagSendFlush, tflags);

        (infos, final, _) = await c.GoAsync("", OptGo, InfoName, InfoDescription, InfoBlockSize);
        Assert.Equal(RepAck, final);
        export = infos.Single(i => BinaryPrimitives.ReadUInt16BigEndian(i) == InfoExport);
        Assert.Equal(2ul * 1024 * 1024, BinaryPrimitives.ReadUInt64BigEndian(export.AsSpan(2)));
        tflags = BinaryPrimitives.ReadUInt16BigEndian(export.AsSpan(10));
        Assert.Equal(FlagHasFlags | FlagSendFlush | FlagSendFua | FlagSendTrim | FlagSendWriteZeroes | FlagCanMultiConn, tflags);
        var name = infos.Single(i => BinaryPrimitives.ReadUInt16BigEndian(i) == InfoName);
        Assert.Equal("disk", Encoding.UTF8.GetString(name, 2, name.Length - 2));
        var desc = infos.Single(i => BinaryPrimitives.ReadUInt16BigEndian(i) == InfoDescription);
        Assert.Equal("test disk", Encoding.UTF8.GetString(desc, 2, desc.Length - 2));
        var sizes = infos.Single(i => BinaryPrimitives.ReadUInt16BigEndian(i) == InfoBlockSize);
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(sizes.AsSpan(2)));
        Assert.Equal(4096u, BinaryPrimitives.ReadUInt32BigEndian(sizes.AsSpan(6)));
        Assert.Equal((uint)MaxPayloadLength, BinaryPrimitives.ReadUInt32BigEndian(sizes.AsSpan(10)));

        // Transmission: simple replies (structured replies were not negotiated).
        await c.SendRequestAsync(CmdWrite, 77, 0, 512, payload: Enumerable.Repeat((byte)0x5a, 512).ToArray());
        Assert.Equal((0u, 77ul), await c.ReadSimpleReplyAsync());
        await c.SendRequestAsync(CmdRead, 78, 0, 512);
        Assert.Equal((0u, 78ul), await c.ReadSimpleReplyAsync());
        Assert.All(await c.ReadBytesAsync(512), b => Assert.Equal(0x5a, b));
        await c.SendRequestAsync(CmdDisc, 79, 0, 0);
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Export_name_enters_transmission_with_or_without_zero_padding(bool noZeroes)
    {
        await using var server = NewServer();
        await using var c = await RawNbdClient.ConnectUnixAsync(server.SocketPath);
        await c.StartHandshakeAsync(ClientFlagFixedNewstyle | (noZeroes ? ClientFlagNoZeroes : 0));
        await c.SendOptionAsync(OptExportName, Encoding.UTF8.GetBytes("disk"));
        var reply = await c.ReadBytesAsync(noZeroes ? 10 : 134);
        Assert.Equal(2ul * 1024 * 1024, BinaryPrimitives.ReadUInt64BigEndian(reply));
        Assert.Equal(server.Export.TransmissionFlags, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
        Assert.All(reply.Skip(10), b => Assert.Equal(0, b));
        await c.SendRequestAsync(CmdRead, 5, 0, 1024);
        Assert.Equal((0u, 5ul), await c.ReadSimpleReplyAsync());
        Assert.Equal(1024, (await c.ReadBytesAsync(1024)).Length);
    }

    [Fact]
    public async Task Unknown_export_name_closes_that_connection_only()
    {
        await using var server = NewServer();
        await using (var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint))
        {
            await c.StartHandshakeAsync();
            await c.SendOptionAsync(OptExportName, Encoding.UTF8.GetBytes("wrong"));
            Assert.True(await c.IsClosedByServerAsync());
        }
        Assert.Contains(server.Logs, l => l.Contains("unknown export 'wrong'", StringComparison.Ordinal));

        await using var next = await RawNbdClient.ConnectTcpAsync(server.Endpoint);
        await next.StartHandshakeAsync();
        var (_, final, _) = await next.GoAsync("disk");
        Assert.Equal(RepAck, final);
    }

    [Fact]
    public async Task Structured_replies_and_empty_meta_context()
    {
        await using var server = NewServer();
        var data = new byte[4096];
        new Random(3).NextBytes(data);
        server.Backend.Poke(8192, data);
        server.Backend.InjectError = (op, offset, _) => op == "read" && offset == 65536 ? new BlockBackendException("sector unreadable", BlockError.Io) : null;

        await using var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint);
        await c.StartHandshakeAsync();

        // Meta contexts need structured replies first.
        await c.SendOptionAsync(OptSetMetaContext, MetaRequest("disk", "base:allocation"));
        Assert.Equal(RepErrInvalid, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(OptStructuredReply);
        Assert.Equal((OptStructuredReply, RepAck), Pick(await c.ReadOptionReplyAsync()));
        await c.SendOptionAsync(OptListMetaContext, MetaRequest("disk"));
        Assert.Equal((OptListMetaContext, RepAck), Pick(await c.ReadOptionReplyAsync()));
        await c.SendOptionAsync(OptSetMetaContext, MetaRequest("disk", "base:allocation"));
        Assert.Equal((OptSetMetaContext, RepAck), Pick(await c.ReadOptionReplyAsync()));
        await c.SendOptionAsync(OptSetMetaContext, [0, 0, 0, 9]);
        Assert.Equal(RepErrInvalid, (await c.ReadOptionReplyAsync()).Type);
        Assert.Equal(RepAck, (await c.GoAsync("disk")).Final);

        await c.SendRequestAsync(CmdRead, 0xabc, 8192, 4096);
        var chunk = await c.ReadStructuredChunkAsync();
        Assert.Equal(ReplyFlagDone, chunk.Flags);
        Assert.Equal(ReplyTypeOffsetData, chunk.Type);
        Assert.Equal(0xabcul, chunk.Cookie);
        Assert.Equal(8192ul, BinaryPrimitives.ReadUInt64BigEndian(chunk.Payload));
        Assert.Equal(data, chunk.Payload[8..]);

        await c.SendRequestAsync(CmdRead, 0xabd, 65536, 512);
        chunk = await c.ReadStructuredChunkAsync();
        Assert.Equal((ReplyFlagDone, ReplyTypeError, 0xabdul), (chunk.Flags, chunk.Type, chunk.Cookie));
        Assert.Equal(EIo, BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload));
        int msgLen = BinaryPrimitives.ReadUInt16BigEndian(chunk.Payload.AsSpan(4));
        Assert.Equal("sector unreadable", Encoding.UTF8.GetString(chunk.Payload, 6, msgLen));

        await c.SendRequestAsync(CmdRead, 0xabe, (ulong)server.Backend.Capacity, 512);
        chunk = await c.ReadStructuredChunkAsync();
        Assert.Equal((ReplyTypeError, EInval), (chunk.Type, BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload)));

        await c.SendRequestAsync(CmdRead, 0xabf, 0, 0);
        chunk = await c.ReadStructuredChunkAsync();
        Assert.Equal((ReplyFlagDone, ReplyTypeNone, 0xabful), (chunk.Flags, chunk.Type, chunk.Cookie));

        // Non-read success replies may stay simple.
        await c.SendRequestAsync(CmdFlush, 0xac0, 0, 0);
        Assert.Equal((0u, 0xac0ul), await c.ReadSimpleReplyAsync());
    }

    [Fact]
    public async Task Protocol_violations_in_negotiation_close_the_connection()
    {
        await using var server = NewServer();
        await using (var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint))
        {
            await c.StartHandshakeAsync(0x80);
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using (var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint))
        {
            await c.StartHandshakeAsync();
            await c.SendOptionAsync(OptList, magic: 0x1122334455667788);
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using (var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint))
        {
            // An over-long option is skipped and refused; the next option still works.
            await c.StartHandshakeAsync();
            await c.SendOptionAsync(OptGo, new byte[20000]);
            Assert.Equal(RepErrTooBig, (await c.ReadOptionReplyAsync()).Type);
            await c.SendOptionAsync(OptGo, [0, 0, 0, 200, 0, 0]);
            Assert.Equal(RepErrInvalid, (await c.ReadOptionReplyAsync()).Type);
            await c.SendOptionAsync(OptList, [1]);
            Assert.Equal(RepErrInvalid, (await c.ReadOptionReplyAsync()).Type);
            await c.SendOptionAsync(OptAbort);
            Assert.Equal((OptAbort, RepAck), Pick(await c.ReadOptionReplyAsync()));
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using (var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint))
        {
            // Data announced beyond 1 MiB is treated as abuse.
            await c.StartHandshakeAsync();
            var head = new byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(head, IHaveOpt);
            BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(8), OptInfo);
            BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(12), 0xfffffff0);
            await c.WriteAsync(head);
            Assert.True(await c.IsClosedByServerAsync());
        }
        Assert.Contains(server.Logs, l => l.Contains("unknown client flags", StringComparison.Ordinal));
        Assert.Contains(server.Logs, l => l.Contains("bad option magic", StringComparison.Ordinal));
    }

    private static (uint, uint) Pick((uint Option, uint Type, byte[] Data) r) => (r.Option, r.Type);

    private static byte[] MetaRequest(string export, params string[] queries)
    {
        var ms = new MemoryStream();
        void U32(uint v)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, v);
            ms.Write(b);
        }
        var n = Encoding.UTF8.GetBytes(export);
        U32((uint)n.Length);
        ms.Write(n);
        U32((uint)queries.Length);
        foreach (var q in queries)
        {
            var qb = Encoding.UTF8.GetBytes(q);
            U32((uint)qb.Length);
            ms.Write(qb);
        }
        return ms.ToArray();
    }
}
