using System.Diagnostics;
using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// Bad values on every command's command line: each is refused before anything is contacted, in one line on
/// stderr with exit 7, and never as an "unexpected error". The portal given is a closed port, so a value that
/// slipped through validation would show as a connection failure (exit 4) instead.
/// </summary>
public sealed class BadInputTests
{
    public static TheoryData<string, string[]> Cases()
    {
        string closed = $"127.0.0.1:{DiscoverCommandTests.FreePort()}";
        string[] login = ["login", "-T", BundledTarget.TargetName, "-p", closed, "-I", BundledTarget.Client];
        string longSocket = "/tmp/" + new string('s', 120) + ".sock";
        var cases = new TheoryData<string, string[]>
        {
            { "invalid --login-timeout -1: give seconds from 1 to 3600", [.. login, "--login-timeout", "-1"] },
            { "invalid --login-timeout 0: give seconds from 1 to 3600", [.. login, "--login-timeout", "0"] },
            { "invalid --login-timeout 2147483647: give seconds from 1 to 3600", [.. login, "--login-timeout", "2147483647"] },
            { "invalid --lun -5: a LUN is a number from 0 to 16383", [.. login, "--nbd-device", "none", "--lun", "-5"] },
            { "invalid --lun 16384: a LUN is a number from 0 to 16383", [.. login, "--nbd-device", "none", "--lun", "16384"] },
            { "invalid --nbd-device \"foo\": use auto, none or /dev/nbdN", [.. login, "--nbd-device", "foo"] },
            { "invalid --nbd-device \"/dev/sda\": use auto, none or /dev/nbdN", [.. login, "--nbd-device", "/dev/sda"] },
            { "refusing to serve NBD on 0.0.0.0: NBD has no authentication, so only loopback addresses and unix sockets are allowed", [.. login, "--nbd-listen", "0.0.0.0:10809"] },
            { "invalid --nbd-listen \"[::ffff:127.0.0.1]:10809\": write the IPv4-mapped address as 127.0.0.1:10809", [.. login, "--nbd-listen", "[::ffff:127.0.0.1]:10809"] },
            { "invalid --nbd-listen \"127.0.0.1\": expected HOST:PORT, for example 127.0.0.1:10809 or [::1]:10809", [.. login, "--nbd-listen", "127.0.0.1"] },
            { $"invalid --nbd-unix {longSocket}: a unix socket path has at most 107 bytes (this one has 130); choose a shorter path", [.. login, "--nbd-unix", longSocket] },
            { "invalid --nbd-unix /nonexistent-dir/lun0.sock: directory /nonexistent-dir does not exist", [.. login, "--nbd-unix", "/nonexistent-dir/lun0.sock"] },
            { "invalid --nbd-unix /etc/passwd: it exists and is a regular file, not a socket", [.. login, "--nbd-unix", "/etc/passwd"] },
            { "--chap-user needs a user name (no control characters)", [.. login, "--nbd-device", "none", "--chap-user", "", "--chap-secret-file", "/etc/hostname"] },
            { "choose one of --nbd-device, --nbd-listen and --nbd-unix", [.. login, "--nbd-device", "none", "--nbd-unix", "/tmp/x.sock"] },
            { "invalid --attempts 0: give 1 to 100", ["login", "--automatic", "--attempts", "0"] },
            { "invalid --login-timeout -1: give seconds from 1 to 3600", ["discover", "-p", closed, "--login-timeout", "-1"] },
            { "invalid portal \"[::1\": missing ']'", ["discover", "-p", "[::1"] },
            { "invalid --lun -5: a LUN is a number from 0 to 16383", ["node", "-T", BundledTarget.TargetName, "-p", closed, "--lun", "-5"] },
            { "invalid --nbd-device \"/dev/sda\": use auto, none or /dev/nbdN", ["node", "-T", BundledTarget.TargetName, "-p", closed, "--nbd-device", "/dev/sda"] },
            { $"invalid --nbd-unix {longSocket}: a unix socket path has at most 107 bytes (this one has 130); choose a shorter path", ["node", "-T", BundledTarget.TargetName, "-p", closed, "--nbd-unix", longSocket] },
            { "invalid target name \"iqn.2026-11.org.example:a\\nforged line \\x1b[2J\": expected iqn.YYYY-MM.reversed.domain[:identifier], eui.<16 hex> or naa.<hex>", [.. login[..2], "iqn.2026-11.org.example:a\nforged line \u001b[2J", .. login[3..]] },
            { "invalid target name \"not-an-iqn\": expected iqn.YYYY-MM.reversed.domain[:identifier], eui.<16 hex> or naa.<hex>", ["node", "-T", "not-an-iqn", "-p", closed, "--startup", "automatic"] },
            { "invalid --lun -5: a LUN is a number from 0 to 16383", ["mount", "-T", BundledTarget.TargetName, "-p", closed, "-m", "/tmp/iscsi-up-never", "--lun", "-5"] },
            { "mount point must be an absolute path, not \"relative\"", ["mount", "-T", BundledTarget.TargetName, "-p", closed, "-m", "relative"] },
            { "invalid portal \"127.0.0.1:0\": port must be a number from 1 to 65535", ["logout", "-T", BundledTarget.TargetName, "-p", "127.0.0.1:0"] },
            { "invalid initiator name \"bad name\": expected iqn.YYYY-MM.reversed.domain[:identifier], eui.<16 hex> or naa.<hex>", ["iname", "--set", "bad name"] },
            { "invalid --exit-when-idle -1: give seconds, or 0 to keep running", ["daemon", "--exit-when-idle", "-1"] },
        };
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Is_refused_up_front_in_one_line_with_exit_7(string message, string[] args)
    {
        using var cli = new CliRun();

        var result = await cli.RunAsync(args);

        Assert.True(result.ExitCode == 7, result.ToString());
        Assert.Equal($"iscsi-up: {message}", Assert.Single(result.StderrLines));
        Assert.DoesNotContain("unexpected error", result.Stderr);
        Assert.False(Directory.Exists(Path.Combine(cli.ConfigDir, "nodes")) && Directory.EnumerateFiles(Path.Combine(cli.ConfigDir, "nodes")).Any(),
            "a refused node command stored a record");
    }

    /// <summary>CHAP secret files that are missing, not regular files, or too large.</summary>
    [Fact]
    public async Task Secret_files_that_are_missing_special_or_huge_get_one_clear_line_each()
    {
        using var cli = new CliRun();
        string closed = $"127.0.0.1:{DiscoverCommandTests.FreePort()}";
        string missing = Path.Combine(cli.Root, "no-such-secret");
        string fifo = Path.Combine(cli.Root, "secret.fifo");
        MakeFifo(fifo);
        string huge = Path.Combine(cli.Root, "huge");
        File.WriteAllBytes(huge, new byte[1 << 20]);
        var expected = new Dictionary<string, string>
        {
            [missing] = $"CHAP secret file {missing} does not exist",
            [fifo] = $"CHAP secret file {fifo} is not a regular file (a FIFO)",
            ["/dev/zero"] = "CHAP secret file /dev/zero is not a regular file (a character device)",
            [huge] = $"CHAP secret file {huge} is too large (1048576 bytes; at most 4096)",
        };
        foreach (var (file, message) in expected)
        {
            foreach (var command in new[] { "login", "discover", "node" })
            {
                string[] args = command == "discover"
                    ? ["discover", "-p", closed, "--chap-user", "alice", "--chap-secret-file", file]
                    : [command, "-T", BundledTarget.TargetName, "-p", closed, "--nbd-device", "none", "--chap-user", "alice", "--chap-secret-file", file];

                var result = await cli.RunAsync(TimeSpan.FromSeconds(30), args);

                Assert.True(result.ExitCode == 7, $"{command} with {file}: {result}");
                Assert.Equal($"iscsi-up: {message}", Assert.Single(result.StderrLines));
            }
        }
    }

    [Fact]
    public async Task A_fifo_as_the_initiator_name_file_is_one_line_not_a_hang()
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.ConfigDir);
        string names = Path.Combine(cli.ConfigDir, "initiatorname.iscsi");
        MakeFifo(names);

        var result = await cli.RunAsync(TimeSpan.FromSeconds(30), "discover", "-p", $"127.0.0.1:{DiscoverCommandTests.FreePort()}");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal($"iscsi-up: initiator name file {names} is not a regular file (a FIFO)", Assert.Single(result.StderrLines));
    }

    internal static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }
}
