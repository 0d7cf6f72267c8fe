using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>The standalone iscsi-test-target executable: starts, serves libiscsi, stops on SIGTERM, reports bad input in one line.</summary>
public sealed class ExecutableTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The target's entry assembly, copied next to the tests by the project reference.</summary>
    private static string TargetDll()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "iscsi-test-target.dll");
        Assert.True(File.Exists(path), $"{path} is missing: the test project must reference src/TestTarget");
        return path;
    }

    private static string Dotnet() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static Process Start(params string[] arguments)
    {
        var info = new ProcessStartInfo(Dotnet())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(TargetDll());
        foreach (string argument in arguments) info.ArgumentList.Add(argument);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the target");
    }

    [Fact]
    public async Task ServesLibiscsiAndStopsCleanlyOnSigterm()
    {
        int port = FreePort();
        string iscsiLs = ProcessRunner.Require("iscsi-ls", "libiscsi-bin");
        using Process target = Start("--portal", $"127.0.0.1:{port}", "--target", TestTargets.TargetName,
            "--acl", TestTargets.InitiatorName, "--acl", "iqn.2025-01.org.iscsi-up:second",
            "--raid5", "3+1", "--disk-size", "16M");
        Task<string> stderr = target.StandardError.ReadToEndAsync();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            string? line = await target.StandardOutput.ReadLineAsync(cts.Token);
            Assert.True(line is not null, $"no listening line; stderr: {(target.HasExited ? await stderr : "")}");
            Assert.Equal($"listening on 127.0.0.1:{port} target {TestTargets.TargetName} LUN 0 32.0 MiB RAID-5 3+1", line);

            ProcessResult listed = await ProcessRunner.RunAsync(iscsiLs, ["-i", "iqn.2025-01.org.iscsi-up:second", "-s", $"iscsi://127.0.0.1:{port}"], Timeout);
            Assert.True(listed.ExitCode == 0, listed.Output);
            Assert.Contains($"Target:{TestTargets.TargetName} Portal:127.0.0.1:{port},1", listed.Stdout);
            Assert.Contains("Lun:0", listed.Stdout);

            ProcessResult refused = await ProcessRunner.RunAsync(iscsiLs, ["-i", "iqn.2025-01.org.iscsi-up:stranger", "-s", $"iscsi://127.0.0.1:{port}"], Timeout);
            Assert.DoesNotContain("Lun:0", refused.Stdout);

            ProcessResult kill = await ProcessRunner.RunAsync("kill", ["-TERM", target.Id.ToString()], Timeout);
            Assert.Equal(0, kill.ExitCode);
            await target.WaitForExitAsync(cts.Token);
            Assert.Equal(0, target.ExitCode);
            Assert.Contains("logged in", await stderr);
            // "listening on" is said once, on stdout; the log on stderr starts after it.
            Assert.DoesNotContain((await stderr).Split('\n'), l => l.StartsWith("listening on", StringComparison.Ordinal));
        }
        finally
        {
            if (!target.HasExited) target.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task DisksCanLiveInFiles()
    {
        string dir = Directory.CreateTempSubdirectory("iscsi-test-target-").FullName;
        try
        {
            int port = FreePort();
            using Process target = Start("--portal", $"127.0.0.1:{port}", "--target", TestTargets.TargetName, "--raid5", "3+0", "--disk-size", "1M", "--dir", dir, "--quiet");
            using var cts = new CancellationTokenSource(Timeout);
            try
            {
                string? line = await target.StandardOutput.ReadLineAsync(cts.Token);
                Assert.StartsWith($"listening on 127.0.0.1:{port} target {TestTargets.TargetName} LUN 0 2.0 MiB RAID-5 3+0", line);
                Assert.True(Directory.GetFiles(dir).Length >= 3, "the member disks should be files in --dir");
                await ProcessRunner.RunAsync("kill", ["-TERM", target.Id.ToString()], Timeout);
                await target.WaitForExitAsync(cts.Token);
                Assert.Equal(0, target.ExitCode);
            }
            finally
            {
                if (!target.HasExited) target.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task SeveralLunsAndPortalsServeLibiscsiAndTheControlCommandChangesLunsWhileRunning()
    {
        string dir = Directory.CreateTempSubdirectory("iscsi-test-target-").FullName;
        string control = Path.Combine(dir, "control.sock");
        string iscsiLs = ProcessRunner.Require("iscsi-ls", "libiscsi-bin");
        string readCapacity = ProcessRunner.Require("iscsi-readcapacity16", "libiscsi-bin");
        int first = FreePort(), second = FreePort();
        using Process target = Start("--portal", $"127.0.0.1:{first}", "--portal", $"127.0.0.1:{second}", "--target", TestTargets.TargetName,
            "--raid5", "3+0", "--disk-size", "1M", "--luns", "3", "--dir", dir, "--control", control, "--quiet");
        Task<ProcessResult> Control(params string[] words) => ProcessRunner.RunAsync(Dotnet(), [TargetDll(), "control", control, .. words], Timeout);
        Task<ProcessResult> List(int port) => ProcessRunner.RunAsync(iscsiLs, ["-i", TestTargets.InitiatorName, "-s", $"iscsi://127.0.0.1:{port}"], Timeout);
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            string? line = await target.StandardOutput.ReadLineAsync(cts.Token);
            Assert.Equal($"listening on 127.0.0.1:{first}, 127.0.0.1:{second} target {TestTargets.TargetName} LUN 0 2.0 MiB RAID-5 3+0 " +
                $"LUNs 1-2 1.0 MiB each in {dir} control {control}", line);

            // Either portal answers, and SendTargets names both in portal group 1 with every LUN behind each.
            ProcessResult listed = await List(second);
            Assert.True(listed.ExitCode == 0, listed.Output);
            Assert.Contains($"Target:{TestTargets.TargetName} Portal:127.0.0.1:{first},1", listed.Stdout);
            Assert.Contains($"Target:{TestTargets.TargetName} Portal:127.0.0.1:{second},1", listed.Stdout);
            Assert.Equal(2, listed.Stdout.Split("Lun:2 ").Length - 1);

            ProcessResult added = await Control("add", "3", "2M");
            ProcessResult grown = await Control("resize", "1", "3M");
            ProcessResult removed = await Control("remove", "2");
            ProcessResult missing = await Control("remove", "2");
            ProcessResult raid = await Control("resize", "0", "8M");

            Assert.Equal((0, "ok LUN 3 added, 2.0 MiB\n"), (added.ExitCode, added.Stdout));
            Assert.Equal((0, "ok LUN 1 resized to 3.0 MiB\n"), (grown.ExitCode, grown.Stdout));
            Assert.Equal((0, "ok LUN 2 removed\n"), (removed.ExitCode, removed.Stdout));
            Assert.Equal((1, "error: there is no LUN 2\n"), (missing.ExitCode, missing.Stdout));
            Assert.Equal(1, raid.ExitCode);
            Assert.Equal("error: LUN 0 is a RAID-5 array, which cannot grow; resize works on plain LUNs\n", raid.Stdout);
            listed = await List(first);
            Assert.Contains("Lun:3 ", listed.Stdout);
            Assert.DoesNotContain("Lun:2 ", listed.Stdout);
            ProcessResult capacity = await ProcessRunner.RunAsync(readCapacity, ["-i", TestTargets.InitiatorName, $"iscsi://127.0.0.1:{first}/{TestTargets.TargetName}/1"], Timeout);
            Assert.Contains($"Total size:{3 << 20}", capacity.Stdout);
            Assert.Equal(3L << 20, new FileInfo(Path.Combine(dir, "lun1.img")).Length);

            await ProcessRunner.RunAsync("kill", ["-TERM", target.Id.ToString()], Timeout);
            await target.WaitForExitAsync(cts.Token);
            Assert.Equal(0, target.ExitCode);
            Assert.False(File.Exists(control), "the control socket should go away with the target");
            ProcessResult gone = await Control("list");
            Assert.Equal(1, gone.ExitCode);
            Assert.StartsWith($"iscsi-test-target: cannot reach the control socket {control}: ", gone.Stderr);
        }
        finally
        {
            if (!target.HasExited) target.Kill(entireProcessTree: true);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--luns", "0")]
    [InlineData("--disk-size", "lots")]
    [InlineData("--disk-size", "1K")]
    [InlineData("--raid5", "1+0")]
    [InlineData("--portal", "127.0.0.1:99999")]
    public async Task BadArgumentsAreOneLineAndExitCode2(string option, string value)
    {
        var arguments = new Dictionary<string, string>
        {
            ["--portal"] = "127.0.0.1:0", ["--target"] = TestTargets.TargetName, ["--disk-size"] = "16M", ["--raid5"] = "3+1",
        };
        arguments[option] = value;

        ProcessResult result = await ProcessRunner.RunAsync(Dotnet(), [TargetDll(), .. arguments.SelectMany(a => new[] { a.Key, a.Value })], Timeout);

        Assert.Equal(2, result.ExitCode);
        string[] lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, result.Output);
        Assert.StartsWith("iscsi-test-target: ", lines[0]);
        Assert.Contains(option, lines[0]);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task MissingRequiredOptionIsExitCode2()
    {
        ProcessResult result = await ProcessRunner.RunAsync(Dotnet(), [TargetDll(), "--disk-size", "16M"], Timeout);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--target", result.Stderr);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task PortInUseIsOneLineAndExitCode1()
    {
        var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        try
        {
            int port = ((IPEndPoint)blocker.LocalEndpoint).Port;

            ProcessResult result = await ProcessRunner.RunAsync(Dotnet(),
                [TargetDll(), "--portal", $"127.0.0.1:{port}", "--target", TestTargets.TargetName, "--disk-size", "1M"], Timeout);

            Assert.Equal(1, result.ExitCode);
            Assert.Equal($"iscsi-test-target: cannot listen on 127.0.0.1:{port}: address already in use", result.Stderr.Trim());
        }
        finally
        {
            blocker.Stop();
        }
    }
}
