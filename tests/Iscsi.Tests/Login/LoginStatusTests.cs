using IscsiUp.Iscsi.Login;

namespace IscsiUp.Iscsi.Tests.Login;

/// <summary>Login status codes turned into one line an administrator can act on.</summary>
public sealed class LoginStatusTests
{
    private const string Target = "iqn.2026-11.example:disk";
    private const string Initiator = "iqn.2026-11.example:client";

    [Theory]
    [InlineData(LoginStatus.AuthenticationFailure, "authentication failure", true, true)]
    [InlineData(LoginStatus.AuthorizationFailure, "authorization failure", true, true)]
    [InlineData(LoginStatus.NotFound, "target not found", true, true)]
    [InlineData(LoginStatus.TargetRemoved, "target removed", true, false)]
    [InlineData(LoginStatus.ServiceUnavailable, "service unavailable", true, false)]
    [InlineData(LoginStatus.OutOfResources, "out of resources", true, false)]
    public void Describe_names_the_parties_involved(ushort status, string text, bool namesTarget, bool namesInitiator)
    {
        string message = LoginStatus.Describe(status, Target, Initiator);
        Assert.StartsWith(text, message);
        Assert.Equal(namesTarget, message.Contains(Target));
        Assert.Equal(namesInitiator, message.Contains(Initiator));
    }

    [Fact]
    public void Describe_speaks_of_the_discovery_service_without_a_target()
    {
        Assert.Contains("the discovery service", LoginStatus.Describe(LoginStatus.AuthorizationFailure, null, Initiator));
        Assert.Equal("login failed with status 0x02ff", LoginStatus.Describe(0x02FF, Target, Initiator));
    }

    [Fact]
    public void Status_codes_are_class_and_detail()
    {
        Assert.Equal(0x0201, LoginStatus.AuthenticationFailure);
        Assert.Equal(0x0202, LoginStatus.AuthorizationFailure);
        Assert.Equal(0x0203, LoginStatus.NotFound);
        Assert.Equal(LoginStatus.InitiatorError, LoginStatus.NotFound >> 8);
        Assert.Equal(LoginStatus.TargetError, LoginStatus.ServiceUnavailable >> 8);
    }
}
