using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Probe;

/// <summary>
/// Reads what is on a device with <c>blkid -p -o export</c>: a low-level probe of the device itself,
/// bypassing blkid's cache, so a freshly attached LUN or a just-written mkfs is seen as it is now.
/// </summary>
public sealed class BlockProbe(ICommandRunner? runner = null, ToolTimeouts? timeouts = null)
{
    private readonly ICommandRunner _runner = runner ?? CliCommandRunner.Instance;
    private readonly ToolTimeouts _timeouts = timeouts ?? ToolTimeouts.Default;

    /// <exception cref="DeviceNotFoundException">the device does not exist or is a directory.</exception>
    /// <exception cref="ToolFailedException">blkid could not read the device (permissions, I/O error).</exception>
    public async Task<ProbeResult> ProbeAsync(string device, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(device);
        if (Directory.Exists(device)) throw new DeviceNotFoundException(device, "is a directory, not a block device");
        if (!File.Exists(device)) throw new DeviceNotFoundException(device, "does not exist");

        string[] arguments = ["-p", "-o", "export", device];
        var result = await _runner.RunAsync("blkid", arguments, _timeouts.Query, null, cancellationToken).ConfigureAwait(false);
        var values = ParseExport(result.StandardOutput);
        switch (result.ExitCode)
        {
            case 0:
                return new ProbeResult(device, Classify(values), values);
            case 2 when result.StandardError.Trim().Length == 0:
                // Nothing found. blkid also exits 2 when it cannot open the device, but then it says why on stderr.
                return new ProbeResult(device, DeviceContent.Blank, values);
            case 8:
                return new ProbeResult(device, DeviceContent.Ambivalent, values);
            default:
                if (!File.Exists(device)) throw new DeviceNotFoundException(device, "disappeared while probing");
                throw new ToolFailedException(ToolPackages.CommandLine("blkid", arguments), result);
        }
    }

    /// <summary>Parses <c>KEY=value</c> lines; blkid escapes special characters in values with a backslash.</summary>
    public static IReadOnlyDictionary<string, string> ParseExport(string output)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rawLine in output.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            var equals = line.IndexOf('=');
            if (equals <= 0) continue;
            var key = line[..equals];
            var raw = line[(equals + 1)..];
            var value = new System.Text.StringBuilder(raw.Length);
            for (var i = 0; i < raw.Length; i++)
            {
                if (raw[i] == '\\' && i + 1 < raw.Length) i++;
                value.Append(raw[i]);
            }
            values[key] = value.ToString();
        }
        return values;
    }

    private static DeviceContent Classify(IReadOnlyDictionary<string, string> values)
    {
        if (values.ContainsKey("PTTYPE") && !values.ContainsKey("TYPE")) return DeviceContent.PartitionTable;
        if (values.TryGetValue("USAGE", out var usage) && usage == "filesystem") return DeviceContent.Filesystem;
        if (values.ContainsKey("TYPE") || values.ContainsKey("PTTYPE")) return DeviceContent.OtherSignature;
        // blkid said "found" but named nothing we understand: treat it as a signature, never as blank.
        return DeviceContent.OtherSignature;
    }
}
