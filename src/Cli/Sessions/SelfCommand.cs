using System.Diagnostics;

namespace IscsiUp.Cli.Sessions;

/// <summary>Starts another iscsi-up command as a child process of this very program.</summary>
public static class SelfCommand
{
    /// <summary>
    /// A start description for `iscsi-up ARGS`: the native executable, or under `dotnet iscsi-up.dll` (a
    /// framework-dependent run, as in tests) the host with the dll as its first argument again.
    /// </summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        string self = Environment.ProcessPath ?? throw new UserError("cannot find this program's path to start another iscsi-up");
        var start = new ProcessStartInfo(self) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "iscsi-up.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return start;
    }
}
