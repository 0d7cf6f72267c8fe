using System.Net.Sockets;
using IscsiUp.Io;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Iscsi.Tests.Pdus;

/// <summary>PduWriter's queue (a Data-Out sequence sent by reference): the bytes on the wire are exactly those that
/// writing the same PDUs one by one gives, through a real socket and through a plain stream, with padding and
/// digests, and a long run is sent in several vectored sends rather than one over IOV_MAX.</summary>
public sealed class QueuedPduTests
{
    private static List<Pdu> Sequence(int count, int segment, int last)
    {
        var payload = new byte[segment * (count - 1) + last];
        new Random(count * 31 + last).NextBytes(payload);
        var pdus = new List<Pdu>();
        for (int i = 0; i < count; i++)
        {
            var pdu = new Pdu(Opcode.DataOut) { InitiatorTaskTag = 7, DataSN = (uint)i, BufferOffset = (uint)(i * segment) };
            pdu.Final = i == count - 1;
            pdu.SetData(payload.AsMemory(i * segment, i == count - 1 ? last : segment));
            pdus.Add(pdu);
        }
        return pdus;
    }

    private static async Task<byte[]> OneByOneAsync(List<Pdu> pdus, bool digests)
    {
        var stream = new MemoryStream();
        var writer = new PduWriter(stream) { HeaderDigest = digests, DataDigest = digests };
        foreach (var pdu in pdus) await writer.WriteAsync(pdu, CancellationToken.None);
        return stream.ToArray();
    }

    [Theory]
    [InlineData(4, 8192, 8192, false)]
    [InlineData(5, 8192, 1001, true)]   // the last payload needs 3 bytes of padding
    [InlineData(700, 512, 512, true)]   // more pieces than one sendmsg takes
    public async Task Queued_pdus_leave_through_a_socket_byte_for_byte_as_written_one_by_one(int count, int segment, int last, bool digests)
    {
        var pdus = Sequence(count, segment, last);
        byte[] expected = await OneByOneAsync(pdus, digests);
        // A PDU written the usual way first: it waits in the write buffer and leaves ahead of the queued ones.
        using var first = new Pdu(Opcode.NopOut) { InitiatorTaskTag = 1 };
        byte[] nop = await OneByOneAsync([first], digests);
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen();
        using var sender = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await sender.ConnectAsync(listener.LocalEndPoint!);
        using var receiver = await listener.AcceptAsync();
        var output = new GatherWriteStream(sender, 64 * 1024);
        var writer = new PduWriter(output) { HeaderDigest = digests, DataDigest = digests };
        var received = new MemoryStream();
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            while (received.Length < nop.Length + expected.Length)
            {
                int n = await receiver.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0) break;
                received.Write(buffer, 0, n);
            }
        });

        await writer.WriteAsync(first, CancellationToken.None);
        foreach (var pdu in pdus) await writer.QueueAsync(pdu, CancellationToken.None);
        await writer.SendQueuedAsync(CancellationToken.None);
        await reading.WaitAsync(TimeSpan.FromSeconds(30));

        byte[] wire = received.ToArray();
        Assert.Equal(nop, wire[..nop.Length]);
        Assert.Equal(expected, wire[nop.Length..]);
        foreach (var pdu in pdus) pdu.Dispose();
    }

    [Fact]
    public async Task Queued_pdus_through_a_plain_stream_are_written_piece_by_piece_and_read_back()
    {
        var pdus = Sequence(3, 8192, 4097);
        var stream = new MemoryStream();
        var writer = new PduWriter(stream) { HeaderDigest = true, DataDigest = true };
        foreach (var pdu in pdus) await writer.QueueAsync(pdu, CancellationToken.None);
        Assert.Equal(0, stream.Length); // nothing leaves before SendQueuedAsync
        await writer.SendQueuedAsync(CancellationToken.None);

        var reader = new PduReader(new MemoryStream(stream.ToArray())) { HeaderDigest = true, DataDigest = true, MaxDataSegmentLength = 8192 };
        foreach (var sent in pdus)
        {
            using var read = new Pdu();
            Assert.True(await reader.ReadPduAsync(read, CancellationToken.None));
            Assert.Equal(sent.DataSN, read.DataSN);
            Assert.Equal(sent.Data.ToArray(), read.Data.ToArray());
            sent.Dispose();
        }
    }

    [Fact]
    public async Task A_discarded_queue_sends_nothing()
    {
        var pdus = Sequence(2, 8192, 8192);
        var stream = new MemoryStream();
        var writer = new PduWriter(stream);
        foreach (var pdu in pdus) await writer.QueueAsync(pdu, CancellationToken.None);
        writer.DiscardQueued();
        await writer.SendQueuedAsync(CancellationToken.None);
        Assert.Equal(0, stream.Length);
        foreach (var pdu in pdus) pdu.Dispose();
    }
}
