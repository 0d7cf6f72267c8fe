using IscsiUp.Cli.Tests.Support;
using IscsiUp.Nbd.Tests;
using IscsiUp.TestTarget.Control;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// A LUN that grows while we are logged in (the bundled target's control socket, `resize`): CAPACITY DATA HAS
/// CHANGED reaches the session on its next command, or `iscsi-up rescan` asks; new NBD connections then see the
/// new size and the record shows it. (A kernel device is resized with an NBD reconfigure: that needs /dev/nbd,
/// the kernel lab's.)
/// </summary>
public sealed class LunResizeTests
{
    private const long Before = 8L << 20;

    private sealed class ResizableTarget : IAsyncDisposable
    {
        public required IscsiTarget Target { get; init; }
        public required LunInventory Inventory { get; init; }
        public required ControlSocket Control { get; init; }
        public string Portal => $"127.0.0.1:{Target.Port}";

        public static async Task<ResizableTarget> StartAsync(string directory)
        {
            var volume = new MemoryVolume(Before);
            var target = new IscsiTarget(new TargetOptions
            {
                TargetName = BundledTarget.TargetName,
                Host = "127.0.0.1",
                Port = 0,
                Acl = [BundledTarget.Client],
                Luns = new Dictionary<int, IBlockStorage> { [0] = volume },
            });
            await target.StartAsync();
            var inventory = new LunInventory(target, null, [volume]);
            return new ResizableTarget { Target = target, Inventory = inventory, Control = ControlSocket.Start(Path.Combine(directory, "target.control"), inventory) };
        }

        public Task<string> ControlAsync(string command) => ControlSocket.SendAsync(Control.Path, command, CancellationToken.None);

        public async ValueTask DisposeAsync()
        {
            await Control.DisposeAsync();
            await Target.DisposeAsync();
            Inventory.Dispose();
        }
    }

    private static async Task<string> SizeAsync(string socket)
    {
        var size = await ExternalTool.RunAsync("nbdinfo", ["--size", $"nbd+unix:///lun0?socket={socket}"]);
        Assert.True(size.ExitCode == 0, size.ToString());
        return size.Stdout.Trim();
    }

    [Fact]
    public async Task A_grown_lun_is_offered_at_its_new_size_after_the_next_command_or_a_rescan()
    {
        using var cli = new CliRun();
        await using var target = await ResizableTarget.StartAsync(cli.Root);
        string socket = Path.Combine(cli.Root, "lun.sock");
        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-unix", socket);
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal($"{Before}", await SizeAsync(socket));

        Assert.StartsWith("ok", await target.ControlAsync("resize 0 16M"));
        var touch = await ExternalTool.RunAsync("nbdcopy", [$"nbd+unix:///lun0?socket={socket}", Path.Combine(cli.Root, "touch.copy")]);
        Assert.True(touch.ExitCode == 0, touch.ToString());
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (await SizeAsync(socket) != $"{16L << 20}")
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"the export did not grow to 16 MiB\n{cli.DaemonLog}");
            await Task.Delay(100);
        }
        Assert.Contains("LUN 0 changed capacity from 8 MiB to 16 MiB (32768 blocks)", cli.DaemonLog);
        Assert.Contains(" lun 0 nbd+unix:///lun0?socket=" + socket + " 16 MiB LOGGED_IN", (await cli.RunAsync("session")).Stdout);

        Assert.StartsWith("ok", await target.ControlAsync("resize 0 24M"));
        var rescan = await cli.RunAsync("rescan");

        Assert.True(rescan.ExitCode == 0, rescan.ToString());
        Assert.EndsWith($"LUN 0 changed capacity from 16 MiB to 24 MiB (49152 blocks): nbd+unix:///lun0?socket={socket} follows\n", rescan.Stdout);
        Assert.Equal($"{24L << 20}", await SizeAsync(socket));
        // The new blocks are usable end to end.
        var grown = new byte[24L << 20];
        Random.Shared.NextBytes(grown);
        File.WriteAllBytes(Path.Combine(cli.Root, "grown"), grown);
        var write = await ExternalTool.RunAsync("nbdcopy", [Path.Combine(cli.Root, "grown"), $"nbd+unix:///lun0?socket={socket}"]);
        Assert.True(write.ExitCode == 0, write.ToString());
        var read = await ExternalTool.RunAsync("nbdcopy", [$"nbd+unix:///lun0?socket={socket}", Path.Combine(cli.Root, "back")]);
        Assert.True(read.ExitCode == 0, read.ToString());
        Assert.Equal(grown, File.ReadAllBytes(Path.Combine(cli.Root, "back")));
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }
}
