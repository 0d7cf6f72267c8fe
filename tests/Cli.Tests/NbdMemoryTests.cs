using System.Buffers.Binary;
using System.Net.Sockets;
using IscsiUp.Cli.Tests.Support;
using Xunit.Abstractions;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// The memory of the process serving NBD is bounded whatever its clients do (issue 19, class 4): 16 local clients
/// that each pipeline 200 READs of 1 MiB and never read a reply took the daemon from 59 MiB to 1.07 GiB, and it
/// still held 1.9 GiB after they left. Measured on the real daemon (its resident set), against the bundled target.
/// </summary>
public sealed class NbdMemoryTests(ITestOutputHelper output)
{
    private const int Clients = 16;
    private const int ReadsPerClient = 200;
    private const int ReadLength = 1 << 20;
    private const long MiB = 1 << 20;

    [Fact]
    public async Task Clients_that_never_read_their_replies_cannot_grow_the_daemon_beyond_the_shared_budget_and_it_gives_the_memory_back()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        int nbdPort = DiscoverCommandTests.FreePort();
        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--nbd-listen", $"127.0.0.1:{nbdPort}");
        Assert.True(login.ExitCode == 0, login.ToString());
        int daemon = cli.DaemonPid;

        // A well-behaved client first, so that the baseline includes the code paths the test then drives.
        using (var warm = await NbdClient.ConnectAsync(nbdPort))
            for (int i = 0; i < 8; i++)
                Assert.Equal(0u, await warm.ReadAsync((ulong)i * ReadLength, ReadLength));
        long baseline = ResidentBytes(daemon);

        var hostile = new List<NbdClient>();
        try
        {
            for (int c = 0; c < Clients; c++)
            {
                var client = await NbdClient.ConnectAsync(nbdPort);
                hostile.Add(client);
                for (int i = 0; i < ReadsPerClient; i++)
                    await client.SendReadAsync((ulong)(i % 32) * ReadLength, ReadLength, cookie: (ulong)i);
            }
            // Let the daemon take in what it will: until its size has not grown by 8 MiB for 3 s (at most 60 s).
            long peak = await SettledPeakAsync(daemon, TimeSpan.FromSeconds(60));
            output.WriteLine($"baseline {baseline / MiB} MiB, peak under {Clients} stalled clients {peak / MiB} MiB");
            Assert.True(peak - baseline < 256 * MiB + 128 * MiB,
                $"the daemon grew by {(peak - baseline) / MiB} MiB under {Clients} clients that never read their replies (baseline {baseline / MiB} MiB)");
        }
        finally
        {
            foreach (var client in hostile)
                client.Dispose();
        }

        // Once they are gone, the memory goes back to the system (the pool trims after 5 s idle).
        long after = ResidentBytes(daemon);
        for (var deadline = DateTime.UtcNow.AddSeconds(60); after - baseline >= 64 * MiB && DateTime.UtcNow < deadline; after = ResidentBytes(daemon))
            await Task.Delay(250);
        output.WriteLine($"after they left: {after / MiB} MiB");
        Assert.True(after - baseline < 64 * MiB,
            $"60 s after the stalled clients left, the daemon still holds {(after - baseline) / MiB} MiB more than its baseline of {baseline / MiB} MiB");

        // And the budget is free again: a new client is served.
        using var again = await NbdClient.ConnectAsync(nbdPort);
        Assert.Equal(0u, await again.ReadAsync(0, ReadLength));
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    private static async Task<long> SettledPeakAsync(int pid, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        long peak = ResidentBytes(pid), stableSince = peak;
        var stableAt = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            long now = ResidentBytes(pid);
            peak = Math.Max(peak, now);
            if (now - stableSince > 8 * MiB)
            {
                stableSince = now;
                stableAt = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - stableAt > TimeSpan.FromSeconds(3))
            {
                break;
            }
        }
        return peak;
    }

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024;
    }

    /// <summary>The least of an NBD client: fixed-newstyle handshake with NBD_OPT_EXPORT_NAME, then simple replies.</summary>
    private sealed class NbdClient : IDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;

        private NbdClient(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
        }

        public static async Task<NbdClient> ConnectAsync(int port)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.ReceiveBufferSize = 64 * 1024; // a client that does not read holds little in its own kernel buffer
            await socket.ConnectAsync("127.0.0.1", port);
            var client = new NbdClient(socket);
            var greeting = new byte[18];
            await client._stream.ReadExactlyAsync(greeting);
            Assert.Equal(0x4e42444d41474943UL, BinaryPrimitives.ReadUInt64BigEndian(greeting)); // NBDMAGIC
            var hello = new byte[4 + 16 + 4];
            BinaryPrimitives.WriteUInt32BigEndian(hello, 3); // FIXED_NEWSTYLE | NO_ZEROES
            BinaryPrimitives.WriteUInt64BigEndian(hello.AsSpan(4), 0x49484156454F5054UL); // IHAVEOPT
            BinaryPrimitives.WriteUInt32BigEndian(hello.AsSpan(12), 1); // NBD_OPT_EXPORT_NAME
            BinaryPrimitives.WriteUInt32BigEndian(hello.AsSpan(16), 4);
            "lun0"u8.CopyTo(hello.AsSpan(20));
            await client._stream.WriteAsync(hello);
            var export = new byte[10];
            await client._stream.ReadExactlyAsync(export); // size and transmission flags
            Assert.Equal(32 * MiB, (long)BinaryPrimitives.ReadUInt64BigEndian(export));
            return client;
        }

        public async Task SendReadAsync(ulong offset, int length, ulong cookie)
        {
            var request = new byte[28];
            BinaryPrimitives.WriteUInt32BigEndian(request, 0x25609513);
            BinaryPrimitives.WriteUInt64BigEndian(request.AsSpan(8), cookie);
            BinaryPrimitives.WriteUInt64BigEndian(request.AsSpan(16), offset);
            BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(24), (uint)length);
            await _stream.WriteAsync(request);
        }

        /// <summary>Reads one block range and returns the reply's error (0 for success).</summary>
        public async Task<uint> ReadAsync(ulong offset, int length)
        {
            await SendReadAsync(offset, length, cookie: 7);
            var reply = new byte[16];
            await _stream.ReadExactlyAsync(reply);
            Assert.Equal(0x67446698u, BinaryPrimitives.ReadUInt32BigEndian(reply));
            uint error = BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(4));
            if (error == 0)
                await _stream.ReadExactlyAsync(new byte[length]);
            return error;
        }

        public void Dispose()
        {
            try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
            _stream.Dispose();
        }
    }
}
