using System.Text.Json;
using IscsiUp.Nbd;
using Xunit.Abstractions;

namespace IscsiUp.Nbd.Tests;

/// <summary>
/// Real NBD clients from Debian packages (libnbd-bin: nbdinfo, nbdcopy; qemu-utils: qemu-io, qemu-img; fio with
/// its libnbd engine) against the server over loopback TCP and a unix socket.
/// </summary>
public sealed class NbdRealClientTests(ITestOutputHelper output)
{
    private const int MiB = 1024 * 1024;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    private NbdTestServer NewServer(long capacity = 64 * MiB) =>
        new(output, new MemoryBackend(capacity), "disk", "test disk", null,
            new NbdExport("spare", new MemoryBackend(capacity: 4 * MiB)
            {
                IsReadOnly = true,
                SupportsTrim = false,
                SupportsMultiConnection = false,
            }, "read-only spare"));

    private async Task<ExternalTool.Result> RunOkAsync(string tool, params string[] args)
    {
        var r = await ExternalTool.RunAsync(tool, args, ToolTimeout);
        output.WriteLine($"$ {tool} {string.Join(' ', args)}\n{r}");
        Assert.True(r.ExitCode == 0, $"{tool} failed: {r}");
        return r;
    }

    private static byte[] MixedContent(int length, int seed)
    {
        // Random data with some all-zero and some constant stretches, so sparse-aware copies are exercised.
        var data = new byte[length];
        var rng = new Random(seed);
        rng.NextBytes(data);
        for (int off = 0; off < length; off += 3 * MiB)
        {
            int len = Math.Min(256 * 1024, length - off);
            data.AsSpan(off, len).Clear();
            if (off + len + 4096 <= length)
                data.AsSpan(off + len, 4096).Fill(0x42);
        }
        return data;
    }

    [Fact]
    public async Task Nbdinfo_reports_size_name_block_sizes_and_flags()
    {
        await using var server = NewServer();
        var r = await RunOkAsync("nbdinfo", "--json", server.TcpUri());
        using var doc = JsonDocument.Parse(r.Stdout);
        var e = doc.RootElement.GetProperty("exports")[0];
        Assert.Equal("disk", e.GetProperty("export-name").GetString());
        Assert.Equal("test disk", e.GetProperty("description").GetString());
        Assert.Equal(64L * MiB, e.GetProperty("export-size").GetInt64());
        Assert.Equal(512, e.GetProperty("block_size_minimum").GetInt32());
        Assert.Equal(4096, e.GetProperty("block_size_preferred").GetInt32());
        Assert.Equal(32 * MiB, e.GetProperty("block_size_maximum").GetInt32());
        Assert.False(e.GetProperty("is_read_only").GetBoolean());
        Assert.True(e.GetProperty("can_flush").GetBoolean());
        Assert.True(e.GetProperty("can_fua").GetBoolean());
        Assert.True(e.GetProperty("can_trim").GetBoolean());
        Assert.True(e.GetProperty("can_zero").GetBoolean());
        Assert.True(e.GetProperty("can_multi_conn").GetBoolean());
        Assert.False(e.GetProperty("can_fast_zero").GetBoolean());
        Assert.True(doc.RootElement.GetProperty("structured").GetBoolean());

        r = await RunOkAsync("nbdinfo", "--json", server.TcpUri("spare"));
        using var doc2 = JsonDocument.Parse(r.Stdout);
        e = doc2.RootElement.GetProperty("exports")[0];
        Assert.Equal(4L * MiB, e.GetProperty("export-size").GetInt64());
        Assert.True(e.GetProperty("is_read_only").GetBoolean());
        Assert.False(e.GetProperty("can_trim").GetBoolean());
        Assert.False(e.GetProperty("can_multi_conn").GetBoolean());
        Assert.False(e.GetProperty("can_zero").GetBoolean());
        Assert.False(e.GetProperty("can_fua").GetBoolean());
    }

    [Fact]
    public async Task Nbdinfo_lists_exports_and_a_wrong_name_fails_cleanly()
    {
        await using var server = NewServer();
        var r = await RunOkAsync("nbdinfo", "--list", $"nbd://127.0.0.1:{server.Endpoint.Port}");
        Assert.Contains("export=\"disk\"", r.Stdout);
        Assert.Contains("export=\"spare\"", r.Stdout);
        Assert.Contains("read-only spare", r.Stdout);

        var bad = await ExternalTool.RunAsync("nbdinfo", [server.TcpUri("nope")], ToolTimeout);
        output.WriteLine(bad.ToString());
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("nope", bad.Stderr);
        Assert.Contains(server.Logs, l => l.Contains("unknown export 'nope'", StringComparison.Ordinal));

        // The server is still there for the next client, and the empty name picks the default export.
        r = await RunOkAsync("nbdinfo", "--size", $"nbd://127.0.0.1:{server.Endpoint.Port}");
        Assert.Equal((64L * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), r.Stdout.Trim());
    }

    [Fact]
    public async Task Nbdcopy_copies_a_file_in_and_out()
    {
        await using var server = NewServer(capacity: 32 * MiB);
        var content = MixedContent(32 * MiB, 21);
        string input = server.TempFile("in.bin"), copy = server.TempFile("out.bin");
        await File.WriteAllBytesAsync(input, content);

        await RunOkAsync("nbdcopy", input, server.TcpUri());
        Assert.True(content.AsSpan().SequenceEqual(server.Backend.Peek(0, content.Length)), "backend does not hold the copied bytes");

        await RunOkAsync("nbdcopy", server.UnixUri(), copy);
        var copied = await File.ReadAllBytesAsync(copy);
        Assert.True(content.AsSpan().SequenceEqual(copied), "copied-out file differs");
        Assert.Empty(server.Backend.Violations);
        Assert.True(server.Backend.MaxWriteLength <= server.Backend.MaxTransferLength);
    }

    [Fact]
    public async Task Qemu_io_writes_reads_discards_and_zeroes()
    {
        await using var server = NewServer();
        await RunOkAsync("qemu-io", "-f", "raw", server.TcpUri(),
            "-c", "write -P 0xab 4096 8192",
            "-c", "read -P 0xab 4096 8192",
            "-c", "write -P 0xcd 1000 777",
            "-c", "read -P 0xcd 1000 777",
            "-c", "write -P 0x11 2097152 4194304",
            "-c", "discard 0 65536",
            "-c", "write -z 1048576 1048576",
            "-c", "read -P 0 1048576 1048576",
            "-c", "write -P 0x22 3145728 65536",
            "-c", "write -z -u 3145728 65536",
            "-c", "read -P 0 3145728 65536",
            "-c", "flush");
        Assert.All(server.Backend.Peek(2 * MiB, 1 * MiB), b => Assert.Equal(0x11, b));
        Assert.All(server.Backend.Peek(5 * MiB, MiB), b => Assert.Equal(0x11, b));
        Assert.All(server.Backend.Peek(MiB, MiB), b => Assert.Equal(0, b));
        Assert.All(server.Backend.Peek(3 * MiB, 65536), b => Assert.Equal(0, b));
        Assert.True(Interlocked.Read(ref server.Backend.Trims) > 0);
        Assert.True(Interlocked.Read(ref server.Backend.ZeroWrites) > 0);
        Assert.True(Interlocked.Read(ref server.Backend.Flushes) > 0);
        Assert.Empty(server.Backend.Violations);

        // The same over the unix socket, with the pattern written above read back.
        await RunOkAsync("qemu-io", "-f", "raw", server.UnixUri(), "-c", "read -P 0x11 5242880 131072");
    }

    [Fact]
    public async Task Qemu_img_converts_into_the_export_and_compares_equal()
    {
        await using var server = NewServer(capacity: 16 * MiB);
        var content = MixedContent(16 * MiB, 22);
        string input = server.TempFile("img.raw");
        await File.WriteAllBytesAsync(input, content);
        await RunOkAsync("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", input, server.TcpUri());
        await RunOkAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", input, server.TcpUri());
        Assert.True(content.AsSpan().SequenceEqual(server.Backend.Peek(0, content.Length)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Fio_random_writes_verify_at_queue_depth_32(bool unix)
    {
        await using var server = NewServer(capacity: 32 * MiB);
        var uri = unix ? server.UnixUri() : server.TcpUri();
        var r = await ExternalTool.RunAsync("fio",
        [
            "--name=nbdverify", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bsrange=4k-128k",
            "--iodepth=32", "--size=8M", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1",
            "--verify_state_save=0", "--randrepeat=0",
        ], ToolTimeout, Path.GetDirectoryName(server.SocketPath));
        output.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, $"fio failed: {r}");
        Assert.Contains("err= 0", r.Stdout);
        Assert.Empty(server.Backend.Violations);
    }
}
