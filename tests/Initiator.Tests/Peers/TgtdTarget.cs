using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Session;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Peers;

/// <summary>How a <see cref="TgtdTarget"/> is configured.</summary>
public sealed record TgtdOptions
{
    public string TargetName { get; init; } = "iqn.2026-11.test.iscsi-up:tgtd-disk";

    /// <summary>The initiator name the ACL admits; null admits every initiator (ALL).</summary>
    public string? AllowedInitiator { get; init; } = TgtdTarget.DefaultInitiator;

    /// <summary>Size of the file behind LUN 1.</summary>
    public long Size { get; init; } = 64L * 1024 * 1024;

    /// <summary>Disk LUNs after LUN 1 (LUN 2, 3, ...), each backed by a file of its own of the given size.</summary>
    public IReadOnlyList<long> MoreLunSizes { get; init; } = [];

    /// <summary>Incoming CHAP account: the initiator must authenticate with it.</summary>
    public (string User, string Password)? Chap { get; init; }

    /// <summary>Outgoing CHAP account: what tgtd answers with in mutual CHAP.</summary>
    public (string User, string Password)? OutgoingChap { get; init; }

    /// <summary>Target parameters set with <c>tgtadm --op update --mode target</c>, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = [];
}

/// <summary>
/// A real tgtd (Linux SCSI target framework) on 127.0.0.1 with a free port and its own control port, exporting
/// target tid 1 with LUN 1 (and any <see cref="TgtdOptions.MoreLunSizes"/>) backed by sparse temporary files. Every wait is bounded; disposing kills tgtd
/// (SIGTERM, then SIGKILL) and deletes the files it used.
/// </summary>
public sealed class TgtdTarget : IAsyncDisposable
{
    public const string DefaultInitiator = "iqn.2026-11.test.iscsi-up:client";
    private const string TgtdPath = "/usr/sbin/tgtd";
    private const string TgtadmPath = "/usr/sbin/tgtadm";
    private const string ControlDirectory = "/var/run/tgtd";
    private const int Attempts = 6;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);

    private Process _process;
    private StringBuilder _log;
    private readonly string _directory;
    private int _disposed;

    private TgtdTarget(Process process, StringBuilder log, int port, int controlPort, string directory, string backingFile, TgtdOptions options)
    {
        _process = process;
        _log = log;
        Port = port;
        ControlPort = controlPort;
        _directory = directory;
        BackingFile = backingFile;
        Options = options;
    }

    public TgtdOptions Options { get; }
    public string TargetName => Options.TargetName;
    public int Port { get; }
    public int ControlPort { get; }
    public string BackingFile { get; }

    /// <summary>The file behind disk LUN <paramref name="lun"/> (1, or one of the <see cref="TgtdOptions.MoreLunSizes"/>).</summary>
    public string BackingFileOf(int lun) => lun == 1 ? BackingFile : Path.Combine(_directory, $"lun{lun}.img");
    public Portal Portal => new("127.0.0.1", Port);
    public bool HasExited => _process.HasExited;

    /// <summary>What tgtd printed so far (for assertion messages).</summary>
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>Login options for this target with a bounded login timeout.</summary>
    public LoginOptions LoginOptions(string? initiatorName = null) => new()
    {
        InitiatorName = initiatorName ?? Options.AllowedInitiator ?? DefaultInitiator,
        TargetName = TargetName,
        Timeout = TimeSpan.FromSeconds(10),
    };

    public static async Task<TgtdTarget> StartAsync(TgtdOptions? options = null, CancellationToken ct = default)
    {
        options ??= new TgtdOptions();
        if (!File.Exists(TgtdPath) || !File.Exists(TgtadmPath))
            throw new InvalidOperationException($"tgtd is not installed ({TgtdPath}, {TgtadmPath} missing): apt-get install -y tgt");

        Directory.CreateDirectory(ControlDirectory); // tgtd keeps its control socket there
        string directory = Directory.CreateTempSubdirectory("iscsi-up-tgtd-").FullName;
        string backing = Path.Combine(directory, "lun1.img");
        try
        {
            using (var file = new FileStream(backing, FileMode.CreateNew, FileAccess.Write))
                file.SetLength(options.Size);
            for (int i = 0; i < options.MoreLunSizes.Count; i++)
                using (var file = new FileStream(Path.Combine(directory, $"lun{i + 2}.img"), FileMode.CreateNew, FileAccess.Write))
                    file.SetLength(options.MoreLunSizes[i]);

            var failures = new StringBuilder();
            for (int attempt = 0; attempt < Attempts; attempt++)
            {
                ct.ThrowIfCancellationRequested();
                int port = FreePort();
                int control = Random.Shared.Next(100, 32000); // tgtd refuses -C values above 32767
                var (process, log, error) = await LaunchAsync(port, control, ct);
                if (process is null)
                {
                    failures.AppendLine($"attempt {attempt + 1} (port {port}, control port {control}): {error}");
                    continue;
                }
                var target = new TgtdTarget(process, log, port, control, directory, backing, options);
                try
                {
                    await target.ConfigureAsync(ct);
                    return target;
                }
                catch
                {
                    await target.DisposeAsync();
                    throw;
                }
            }
            throw new InvalidOperationException($"tgtd did not start after {Attempts} attempts:\n{failures}");
        }
        catch
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts tgtd and waits until this very process listens on the port; returns the reason when it does not.</summary>
    private static async Task<(Process? Process, StringBuilder Log, string Error)> LaunchAsync(int port, int control, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(TgtdPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-f", "-C", Num(control), "--iscsi", $"portal=127.0.0.1:{Num(port)}" })
            psi.ArgumentList.Add(arg);
        var log = new StringBuilder();
        var process = new Process { StartInfo = psi };
        DataReceivedEventHandler append = (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < StartTimeout)
            {
                string text;
                lock (log) text = log.ToString();
                if (process.HasExited)
                {
                    await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(2), ct); // drain output
                    lock (log) text = log.ToString();
                    int exitCode = process.ExitCode;
                    process.Dispose();
                    return (null, log, $"tgtd exited with {exitCode}: {text.Trim()}");
                }
                if (text.Contains("failed to create/bind to portal", StringComparison.Ordinal) ||
                    text.Contains("unable to bind server socket", StringComparison.Ordinal))
                {
                    await KillAsync(process);
                    process.Dispose();
                    return (null, log, $"tgtd could not bind its portal: {text.Trim()}");
                }
                if (ListensOn(process.Id, port)) return (process, log, "");
                await Task.Delay(20, ct);
            }
        }
        catch
        {
            await KillAsync(process); // cancelled or broken: never leave a tgtd behind
            process.Dispose();
            throw;
        }
        await KillAsync(process);
        process.Dispose();
        string final;
        lock (log) final = log.ToString();
        return (null, log, $"tgtd did not listen on 127.0.0.1:{port} within {StartTimeout.TotalSeconds:0} s: {final.Trim()}");
    }

    /// <summary>True when <paramref name="pid"/> owns a listening TCP socket on 127.0.0.1:<paramref name="port"/> (so a stranger on the port does not count).</summary>
    private static bool ListensOn(int pid, int port)
    {
        var inodes = new HashSet<string>();
        string local = $"0100007F:{port:X4}";
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 9 && fields[1] == local && fields[3] == "0A") inodes.Add($"socket:[{fields[9]}]");
        }
        if (inodes.Count == 0) return false;
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget is { } target && inodes.Contains(target)) return true;
                }
                catch (IOException) { }
            }
        }
        catch (DirectoryNotFoundException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }

    private async Task ConfigureAsync(CancellationToken ct)
    {
        var o = Options;
        await AdminAsync(ct, "--op", "new", "--mode", "target", "--tid", "1", "-T", o.TargetName);
        await AdminAsync(ct, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", BackingFile);
        for (int lun = 2; lun < 2 + o.MoreLunSizes.Count; lun++)
            await AdminAsync(ct, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", Num(lun), "-b", BackingFileOf(lun));
        // tgtd's ACL: initiator names (--initiator-name) or addresses (-I). A name alone admits that initiator from
        // any address; adding "-I ALL" beside it would admit every initiator.
        if (o.AllowedInitiator is { } initiator)
            await AdminAsync(ct, "--op", "bind", "--mode", "target", "--tid", "1", "--initiator-name", initiator);
        else
            await AdminAsync(ct, "--op", "bind", "--mode", "target", "--tid", "1", "--initiator-address", "ALL");
        if (o.Chap is { } chap)
        {
            await AdminAsync(ct, "--op", "new", "--mode", "account", "--user", chap.User, "--password", chap.Password);
            await AdminAsync(ct, "--op", "bind", "--mode", "account", "--tid", "1", "--user", chap.User);
        }
        if (o.OutgoingChap is { } outgoing)
        {
            await AdminAsync(ct, "--op", "new", "--mode", "account", "--user", outgoing.User, "--password", outgoing.Password);
            await AdminAsync(ct, "--op", "bind", "--mode", "account", "--tid", "1", "--user", outgoing.User, "--outgoing");
        }
        foreach (var (name, value) in o.Parameters)
            await AdminAsync(ct, "--op", "update", "--mode", "target", "--tid", "1", "-n", name, "-v", value);
    }

    /// <summary>Runs <c>tgtadm -C N --lld iscsi ARGS</c> against this tgtd; returns stdout, throws with stderr on failure.</summary>
    public async Task<string> AdminAsync(CancellationToken ct, params string[] args)
    {
        var psi = new ProcessStartInfo(TgtadmPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-C", Num(ControlPort), "--lld", "iscsi" }.Concat(args)) psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            await process.WaitForExitAsync(ct).WaitAsync(CommandTimeout, ct);
        }
        catch (TimeoutException)
        {
            process.Kill();
            throw new InvalidOperationException($"tgtadm {string.Join(' ', args)} did not finish within {CommandTimeout.TotalSeconds:0} s");
        }
        string output = await stdout, errors = await stderr;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"tgtadm {string.Join(' ', args)} failed ({process.ExitCode}): {errors.Trim()}\ntgtd log:\n{Log}");
        return output;
    }

    /// <summary>Opens one more portal on 127.0.0.1 (a free port) in tgtd's portal group 1; SendTargets then lists both.</summary>
    public async Task<Portal> AddPortalAsync(CancellationToken ct = default)
    {
        int port = FreePort();
        await AdminAsync(ct, "--op", "new", "--mode", "portal", "--param", $"portal=127.0.0.1:{Num(port)}");
        return new Portal("127.0.0.1", port);
    }

    /// <summary>Reads bytes of the file behind LUN 1.</summary>
    public byte[] ReadBacking(long offset, int length)
    {
        var buffer = new byte[length];
        using var handle = File.OpenHandle(BackingFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        int total = 0;
        while (total < length)
        {
            int n = RandomAccess.Read(handle, buffer.AsSpan(total), offset + total);
            if (n == 0) throw new EndOfStreamException($"backing file ends before {offset + length}");
            total += n;
        }
        return buffer;
    }

    /// <summary>SIGKILLs tgtd at once (a target that crashes) and waits, bounded, until it is gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// A target restart: SIGKILLs tgtd, then starts a new one on the same port and control port over the same
    /// backing file and configures it again (what an administrator's reboot of the storage server looks like).
    /// </summary>
    public async Task RestartAsync(TimeSpan downtime, CancellationToken ct = default)
    {
        await KillAsync();
        _process.Dispose();
        DeleteControlFiles(ControlPort);
        await Task.Delay(downtime, ct);
        var (process, log, error) = await LaunchAsync(Port, ControlPort, ct);
        if (process is null) throw new InvalidOperationException($"tgtd did not restart on port {Port}: {error}");
        _process = process;
        _log = log;
        await ConfigureAsync(ct);
    }

    /// <summary>SIGSTOPs tgtd: it keeps its sockets open but stops reading them, so the initiator's writes back up.</summary>
    public void Suspend()
    {
        if (kill(_process.Id, SIGSTOP) != 0) throw new InvalidOperationException($"cannot stop tgtd {_process.Id}: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>SIGCONTs a suspended tgtd.</summary>
    public void Resume()
    {
        if (kill(_process.Id, SIGCONT) != 0) throw new InvalidOperationException($"cannot resume tgtd {_process.Id}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static async Task KillAsync(Process process)
    {
        try
        {
            if (process.HasExited) return;
            _ = kill(process.Id, SIGTERM);
            try { await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMilliseconds(300)); return; }
            catch (TimeoutException) { }
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (InvalidOperationException) { } // already gone
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await KillAsync(_process);
        }
        finally
        {
            _process.Dispose();
            DeleteControlFiles(ControlPort);
            try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Removes the control socket and lock file a killed tgtd leaves behind. Only for a tgtd that was up and listening
    /// (so it held the control port's lock): a failed start may have lost the port to another tgtd whose files these are.
    /// </summary>
    private static void DeleteControlFiles(int control)
    {
        foreach (var path in new[] { $"{ControlDirectory}/socket.{Num(control)}", $"{ControlDirectory}/socket.{Num(control)}.lock" })
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);

    private const int SIGTERM = 15;
    private const int SIGSTOP = 19;
    private const int SIGCONT = 18;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
