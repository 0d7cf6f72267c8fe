using System.CommandLine;
using IscsiUp.Cli.Commands;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Tests;

/// <summary>The one decision of what this process is, taken from the parsed command line.</summary>
public sealed class ProcessRoleTests
{
    private static ProcessRole RoleOf(params string[] args)
    {
        var root = new RootCommand { DiscoverCommand.Create(), LoginCommand.Create(), LogoutCommand.Create(), SessionCommand.Create(), DaemonCommand.Create() };
        var parsed = root.Parse(args);
        Assert.Empty(parsed.Errors);
        return ProcessRoles.Of(parsed);
    }

    [Theory]
    [InlineData(ProcessRole.Daemon, "daemon")]
    [InlineData(ProcessRole.KernelDeviceHolder, "login", "--foreground", "-T", "iqn.2026-01.test:t", "-p", "127.0.0.1")]
    [InlineData(ProcessRole.KernelDeviceHolder, "login", "--foreground", "--nbd-device", "/dev/nbd3", "-T", "iqn.2026-01.test:t", "-p", "127.0.0.1")]
    [InlineData(ProcessRole.SessionHolder, "login", "--foreground", "--nbd-device", "none", "-T", "iqn.2026-01.test:t", "-p", "127.0.0.1")]
    [InlineData(ProcessRole.SessionHolder, "login", "--foreground", "--nbd-listen", "127.0.0.1:10809", "-T", "iqn.2026-01.test:t", "-p", "127.0.0.1")]
    [InlineData(ProcessRole.SessionHolder, "login", "--foreground", "--nbd-unix", "/run/x.sock", "-T", "iqn.2026-01.test:t", "-p", "127.0.0.1")]
    [InlineData(ProcessRole.Command, "login", "-T", "iqn.2026-01.test:t", "-p", "127.0.0.1")]
    [InlineData(ProcessRole.Command, "session")]
    [InlineData(ProcessRole.Command, "discover", "-p", "127.0.0.1")]
    public void The_role_follows_the_command(ProcessRole expected, params string[] args) =>
        Assert.Equal(expected, RoleOf(args));

    [Fact]
    public void Only_session_holders_use_the_socket_event_thread_and_only_kernel_device_servers_need_the_io_flusher_flag()
    {
        Assert.False(ProcessRole.Command.HoldsSessions());
        Assert.True(ProcessRole.SessionHolder.HoldsSessions());
        Assert.True(ProcessRole.KernelDeviceHolder.HoldsSessions());
        Assert.True(ProcessRole.Daemon.HoldsSessions());
        Assert.False(ProcessRole.SessionHolder.ServesKernelDevice());
        Assert.True(ProcessRole.KernelDeviceHolder.ServesKernelDevice());
        Assert.True(ProcessRole.Daemon.ServesKernelDevice());
    }
}
