using System.Runtime.InteropServices;
using System.Text;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// PR_SET_IO_FLUSHER for processes that serve a kernel /dev/nbdX: writeback on a filesystem over that device
/// may need this process to allocate memory, and without the flag the kernel can deadlock reclaiming memory
/// through the very device that waits for us (docs/ARCHITECTURE.md, "Memory pressure"). The flag is per thread and inherited by
/// threads created later and across exec, so the command sets it on its main thread and re-executes itself
/// once: every thread of the new runtime then carries it.
/// </summary>
public static partial class IoFlusher
{
    private const int PrSetIoFlusher = 57;
    private const int PrGetIoFlusher = 58;
    private const string Marker = "ISCSI_UP_IO_FLUSHER";

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>True when this thread is marked as an I/O flusher.</summary>
    public static bool IsSet => prctl(PrGetIoFlusher, 0, 0, 0, 0) == 1;

    /// <summary>Re-executes the command with the flag set when its process will serve a kernel device; returns when nothing is to be done.</summary>
    public static void EnsureFor(ProcessRole role)
    {
        if (Environment.GetEnvironmentVariable(Marker) is not null || !role.ServesKernelDevice()) return;
        if (Tmds.Linux.LibC.geteuid() != 0) return;
        if (prctl(PrSetIoFlusher, 1, 0, 0, 0) != 0) return; // kernel before 5.6 or no CAP_SYS_RESOURCE: run as we are
        ReExec();
    }

    /// <summary>execve of /proc/self/exe with the original argv and the marker added to the environment.</summary>
    private static unsafe void ReExec()
    {
        var argv = File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0');
        var environment = new List<string>();
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
            environment.Add($"{entry.Key}={entry.Value}");
        environment.Add($"{Marker}=1");
        byte** nativeArgs = Strings(argv);
        byte** nativeEnv = Strings(environment);
        fixed (byte* path = Encoding.UTF8.GetBytes("/proc/self/exe\0"))
            Tmds.Linux.LibC.execve(path, nativeArgs, nativeEnv);
        // Only reached when execve failed: carry on in this process, flag set on this thread at least.
    }

    private static unsafe byte** Strings(IReadOnlyList<string> values)
    {
        var array = (byte**)NativeMemory.Alloc((nuint)(values.Count + 1), (nuint)sizeof(byte*));
        for (int i = 0; i < values.Count; i++)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(values[i] + "\0");
            array[i] = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
            bytes.CopyTo(new Span<byte>(array[i], bytes.Length));
        }
        array[values.Count] = null;
        return array;
    }
}
