using System.Collections.Concurrent;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>Starts in-process targets on 127.0.0.1 with a system-picked port, and keeps their log for failure messages.</summary>
internal static class TestTargets
{
    public const string TargetName = "iqn.2025-01.org.iscsi-up:test-target";
    public const string InitiatorName = "iqn.2025-01.org.iscsi-up:client";

    public static async Task<RunningTarget> StartAsync(IBlockStorage storage, Func<TargetOptions, TargetOptions>? configure = null)
    {
        var options = new TargetOptions
        {
            TargetName = TargetName,
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = storage },
        };
        if (configure is not null) options = configure(options);
        var target = new IscsiTarget(options);
        var running = new RunningTarget(target);
        await target.StartAsync();
        return running;
    }
}

/// <summary>A started target and everything it logged.</summary>
internal sealed class RunningTarget : IAsyncDisposable
{
    public RunningTarget(IscsiTarget target)
    {
        Target = target;
        target.Log += Lines.Enqueue;
    }

    public IscsiTarget Target { get; }
    public ConcurrentQueue<string> Lines { get; } = new();
    public int Port => Target.Port;
    public string LogText => string.Join(Environment.NewLine, Lines);

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds, e.g. for a session count to settle.</summary>
    public async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            if (condition()) return true;
            await Task.Delay(20);
        }
        return condition();
    }

    public async ValueTask DisposeAsync() => await Target.DisposeAsync();
}
