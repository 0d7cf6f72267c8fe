using IscsiUp.Io;

namespace IscsiUp.Initiator.Tests.Io;

public class ReceiveBufferTests
{
    private const int BufferSize = 64;

    /// <summary>Stands for a socket: hands out its bytes in the given chunk sizes, one chunk per read at most, and
    /// records the size of each read asked of it.</summary>
    private sealed class ChunkedSocket(byte[] bytes, params int[] chunks) : Stream
    {
        private int _position;
        private int _chunk;
        public List<int> Asked { get; } = [];

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            Asked.Add(buffer.Length);
            int chunk = _chunk < chunks.Length ? chunks[_chunk++] : int.MaxValue;
            int n = Math.Min(Math.Min(chunk, buffer.Length), bytes.Length - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer.Span);
            _position += n;
            return ValueTask.FromResult(n);
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).Result;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task Headers_and_payloads_read_across_chunk_boundaries_come_out_byte_for_byte()
    {
        // A 48-byte header and 20 bytes of data, twice, arriving in chunks that split both.
        byte[] sent = Pattern(2 * (48 + 20));
        var socket = new ChunkedSocket(sent, 30, 50, 7, 100);
        var buffer = new ReceiveBuffer(socket, BufferSize);

        var received = new byte[sent.Length];
        for (int offset = 0; offset < sent.Length; offset += 68)
        {
            await buffer.ReadExactlyAsync(received.AsMemory(offset, 48));
            await buffer.ReadExactlyAsync(received.AsMemory(offset + 48, 20));
        }

        Assert.Equal(sent, received);
        Assert.Equal(0, await buffer.ReadAsync(new byte[1])); // the end of the stream, once everything is read
    }

    [Fact]
    public async Task Small_reads_are_served_from_one_socket_read_and_complete_at_once()
    {
        byte[] sent = Pattern(BufferSize);
        var socket = new ChunkedSocket(sent);
        var buffer = new ReceiveBuffer(socket, BufferSize);

        var first = new byte[16];
        Assert.Equal(16, await buffer.ReadAsync(first));
        for (int i = 1; i < 4; i++)
        {
            ValueTask<int> read = buffer.ReadAsync(new byte[16]);
            Assert.True(read.IsCompletedSuccessfully); // from the buffer: no socket read, no wait
            Assert.Equal(16, await read);
        }

        Assert.Equal([BufferSize], socket.Asked);
        Assert.Equal(sent.AsSpan(0, 16).ToArray(), first);
    }

    [Fact]
    public async Task A_read_as_large_as_the_buffer_goes_straight_into_the_callers_memory_once_the_buffer_is_empty()
    {
        byte[] sent = Pattern(10 + 4 * BufferSize);
        var socket = new ChunkedSocket(sent);
        var buffer = new ReceiveBuffer(socket, BufferSize);

        var head = new byte[10];
        await buffer.ReadExactlyAsync(head);
        var payload = new byte[4 * BufferSize];
        await buffer.ReadExactlyAsync(payload);

        // The first read filled the buffer; the payload took the buffered rest, then one read of its remainder.
        Assert.Equal([BufferSize, 4 * BufferSize - (BufferSize - 10)], socket.Asked);
        Assert.Equal(sent.AsSpan(10).ToArray(), payload);
    }

    [Fact]
    public async Task A_connection_closed_in_the_middle_of_a_read_is_an_end_of_stream_error()
    {
        var buffer = new ReceiveBuffer(new ChunkedSocket(Pattern(30)), BufferSize);
        await Assert.ThrowsAsync<EndOfStreamException>(async () => await buffer.ReadExactlyAsync(new byte[48]));
    }
}
