// The initiator alone, no NBD: the same measurement as libiscsi's iscsi-perf (fixed-size requests, a fixed
// number in flight, sequential or random, for a fixed time), so the two can be compared on one target.
using System.Diagnostics;
using System.Globalization;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;

var options = Args.Parse(args);
IscsiUp.Io.SocketEventThread.RunContinuationsInline(); // as the session daemon runs
var session = await IscsiSession.LoginAsync(Portal.Parse(options.Portal), new LoginOptions
{
    InitiatorName = options.Initiator,
    TargetName = options.Target,
});
var disk = await ScsiDisk.OpenAsync(session, options.Lun);
int bytes = options.Blocks * disk.BlockSize;
ulong span = disk.Capacity.BlockCount / (ulong)options.Blocks;
long operations = 0;
ulong next = 0;
var stop = Stopwatch.StartNew();
var workers = Enumerable.Range(0, options.InFlight).Select(async _ =>
{
    var buffer = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
    Random.Shared.NextBytes(buffer);
    while (stop.Elapsed.TotalSeconds < options.Seconds)
    {
        ulong slot = options.Random ? (ulong)Random.Shared.NextInt64((long)span) : Interlocked.Increment(ref next) % span;
        ulong lba = slot * (ulong)options.Blocks;
        if (options.Write) await disk.WriteAsync(lba, buffer);
        else await disk.ReadAsync(lba, buffer);
        Interlocked.Increment(ref operations);
    }
}).ToArray();
await Task.WhenAll(workers);
double seconds = stop.Elapsed.TotalSeconds;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"iops {operations / seconds:0} bandwidth {operations * (double)bytes / seconds / 1e6:0.0} MB/s ({(options.Write ? "write" : "read")}, {(options.Random ? "random" : "sequential")}, {bytes} bytes x {options.InFlight} in flight)"));
await session.LogoutAsync();

sealed record Args(string Portal, string Target, int Lun, string Initiator, int InFlight, int Blocks, bool Random, bool Write, double Seconds)
{
    public static Args Parse(string[] args)
    {
        string initiator = "iqn.2026-11.org.iscsi-up:bench";
        int inFlight = 8, blocks = 2048, lun = 0;
        double seconds = 10;
        bool random = false, write = false;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-i": initiator = args[++i]; break;
                case "-m": inFlight = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "-b": blocks = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "-t": seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "-r": random = true; break;
                case "-w": write = true; break;
                default: rest.Add(args[i]); break;
            }
        }
        if (rest.Count != 3)
        {
            Console.Error.WriteLine("usage: initiator-perf [-i IQN] [-m IN_FLIGHT] [-b BLOCKS] [-t SECONDS] [-r] [-w] PORTAL TARGET LUN");
            Environment.Exit(2);
        }
        lun = int.Parse(rest[2], CultureInfo.InvariantCulture);
        return new Args(rest[0], rest[1], lun, initiator, inFlight, blocks, random, write, seconds);
    }
}
