using IscsiUp.MountManager.Fstab;

namespace IscsiUp.MountManager.Tests.Support;

/// <summary>A validator whose verdict the test decides; remembers which files it was asked about.</summary>
public sealed class RecordingValidator(Func<string, FstabVerification?> verdict) : IFstabValidator
{
    public List<string> Verified { get; } = [];

    public Task<FstabVerification?> VerifyAsync(string path, CancellationToken cancellationToken = default)
    {
        Verified.Add(path);
        return Task.FromResult(verdict(path));
    }
}
