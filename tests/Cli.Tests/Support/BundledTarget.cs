using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests.Support;

/// <summary>The bundled target in-process on a free loopback port, over a small in-memory RAID-5 3+1.</summary>
public sealed class BundledTarget : IAsyncDisposable
{
    public const string TargetName = "iqn.2026-11.org.iscsi-up.test:disk0";
    public const string Client = "iqn.2026-11.org.iscsi-up.test:client";

    private BundledTarget(IscsiTarget target, Raid5Array array)
    {
        Target = target;
        Array = array;
    }

    public IscsiTarget Target { get; }
    public Raid5Array Array { get; }
    public string Portal => $"127.0.0.1:{Target.Port}";

    public static async Task<BundledTarget> StartAsync(TargetChap? chap = null)
    {
        var array = Raid5Array.CreateInMemory(3, 1, 16L << 20, 64 * 1024);
        var target = new IscsiTarget(new TargetOptions
        {
            TargetName = TargetName,
            Host = "127.0.0.1",
            Port = 0,
            Acl = [Client],
            Chap = chap,
            Luns = new Dictionary<int, IBlockStorage> { [0] = array },
        });
        await target.StartAsync();
        return new BundledTarget(target, array);
    }

    public async ValueTask DisposeAsync()
    {
        await Target.DisposeAsync();
        Array.Dispose();
    }
}
