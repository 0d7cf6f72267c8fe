using System.Text.RegularExpressions;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>Help, usage and the small messages an administrator meets first.</summary>
public sealed class UsageTests
{
    internal static readonly string[] Commands = ["discover", "login", "session", "logout", "rescan", "mount", "umount", "node", "iname", "daemon"];

    [Fact]
    public async Task No_command_shows_the_usage_with_every_command()
    {
        using var cli = new CliRun();

        var result = await cli.RunAsync();

        Assert.Equal(7, result.ExitCode);
        Assert.Contains("Usage:", result.Stdout);
        foreach (var command in Commands) Assert.Matches($"(?m)^  {command} ", result.Stdout);
        Assert.DoesNotContain("Required command was not provided", result.Stdout + result.Stderr);
    }

    [Fact]
    public async Task Help_names_each_value_by_what_it_is()
    {
        using var cli = new CliRun();

        var iname = await cli.RunAsync("iname", "--help");
        var login = await cli.RunAsync("login", "--help");

        Assert.Contains("--set <IQN>", iname.Stdout);
        Assert.Contains("-T, --targetname <IQN>", login.Stdout);
        Assert.Contains("-p, --portal <HOST[:PORT]>", login.Stdout);
        Assert.Contains("--chap-secret-file <FILE>", login.Stdout);
        Assert.Contains("--nbd-device <auto|/dev/nbdN|none>", login.Stdout);
    }

    /// <summary>README's synopsis shows every option each command's --help lists (by its long or short name).</summary>
    [Fact]
    public async Task Readme_synopsis_lists_every_option_of_every_command()
    {
        using var cli = new CliRun();
        string synopsis = ReadmeSynopsis();
        foreach (var command in Commands)
        {
            string lines = SynopsisOf(synopsis, command);
            var help = await cli.RunAsync(command, "--help");
            Assert.Equal(0, help.ExitCode);
            foreach (var (shortName, longName) in Repository.HelpOptions(help.Stdout))
            {
                Assert.True(Regex.IsMatch(lines, $@"(?<![\w-]){Regex.Escape(longName)}(?![\w-])") ||
                            (shortName is not null && Regex.IsMatch(lines, $@"(?<![\w-]){Regex.Escape(shortName)}(?![\w-])")),
                    $"README's synopsis of {command} lacks {longName}:\n{lines}");
            }
        }
    }

    [Fact]
    public async Task Umount_of_a_directory_that_is_not_mounted_says_so_once()
    {
        using var cli = new CliRun();
        string dir = Directory.CreateDirectory(Path.Combine(cli.Root, "not-mounted")).FullName;

        var result = await cli.RunAsync("umount", "-m", dir, "--fstab", Path.Combine(cli.Root, "fstab"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"{dir} is not mounted\n", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task Mount_without_the_nbd_driver_says_what_mount_needs_before_logging_in()
    {
        if (Directory.Exists("/sys/module/nbd")) Assert.Fail("precondition: this test expects a kernel without the nbd driver (see tests/KernelLab for nbd)");
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("mount", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "-m", Path.Combine(cli.Root, "mnt"), "--fstab", Path.Combine(cli.Root, "fstab"));

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("iscsi-up: mount attaches the LUN as /dev/nbdX, and this kernel has no nbd driver (modprobe nbd did not load it); install the kernel's nbd module and run mount again",
            Assert.Single(result.StderrLines));
        Assert.Equal(0, target.Target.TotalSessions);
    }

    [Fact]
    public async Task A_refused_chap_login_names_the_chap_user_that_was_sent()
    {
        await using var target = await BundledTarget.StartAsync(new TargetChap("alice", "alices-secret-42"u8.ToArray()));
        using var cli = new CliRun();

        var result = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--chap-user", "mallory", "--chap-secret-file", cli.SecretFile("s", "alices-secret-42"), "--nbd-device", "none");

        Assert.Equal(24, result.ExitCode);
        Assert.Equal($"iscsi-up: authentication failure: target {BundledTarget.TargetName} did not accept CHAP user \"mallory\" with the secret given (check the CHAP user name and secret)",
            Assert.Single(result.StderrLines));
    }

    private static string ReadmeSynopsis()
    {
        string readme = File.ReadAllText(Path.Combine(Repository.Root(), "README.md"));
        var match = Regex.Match(readme, @"## Synopsis\s+```\n(?<body>.*?)```", RegexOptions.Singleline);
        Assert.True(match.Success, "README.md has no Synopsis code block");
        return match.Groups["body"].Value;
    }

    /// <summary>The synopsis lines of one command: its "iscsi-up COMMAND" lines and their indented continuations.</summary>
    private static string SynopsisOf(string synopsis, string command)
    {
        var lines = new List<string>();
        bool inside = false;
        foreach (var line in synopsis.Split('\n'))
        {
            if (line.StartsWith("iscsi-up ", StringComparison.Ordinal) || line.StartsWith("iscsi-test-target", StringComparison.Ordinal))
                inside = Regex.IsMatch(line, $@"^iscsi-up\s+{command}\b");
            if (inside) lines.Add(line);
        }
        Assert.True(lines.Count > 0, $"README's synopsis has no line for {command}");
        return string.Join('\n', lines);
    }
}
