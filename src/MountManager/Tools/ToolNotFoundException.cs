namespace IscsiUp.MountManager.Tools;

/// <summary>A required external tool is not installed.</summary>
public sealed class ToolNotFoundException(string tool, string package)
    : MountManagerException($"{tool} not found; install {package}")
{
    public string Tool { get; } = tool;
}
