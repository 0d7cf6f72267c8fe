using System.Text;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Initiator.Tests.Login;

public sealed class ChapCredentialsTests
{
    [Fact]
    public void Credentials_never_print_secrets()
    {
        var credentials = new ChapCredentials("alice", Encoding.UTF8.GetBytes("hunter2-secret"), "target", Encoding.UTF8.GetBytes("other-secret"));
        string text = credentials.ToString();
        Assert.Contains("alice", text);
        Assert.Contains("mutual", text);
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("other-secret", text);
        Assert.False(new ChapCredentials("bob", [1]).IsMutual);
    }
}
