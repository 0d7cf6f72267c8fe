using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Tests;

/// <summary>Exit codes follow the type of an error, never its wording.</summary>
public sealed class ErrorReporterTests
{
    [Fact]
    public void A_connect_timeout_is_exit_8_whatever_its_message_says()
    {
        var (message, code) = ErrorReporter.Classify(new ConnectTimeoutException("portal 192.0.2.1:3260 stayed silent"));

        Assert.Equal(ExitCodes.TransportTimeout, code);
        Assert.Equal("portal 192.0.2.1:3260 stayed silent", message);
    }

    [Fact]
    public void A_failed_connect_is_exit_4_whatever_its_message_says()
    {
        var (message, code) = ErrorReporter.Classify(new ConnectException("portal 192.0.2.1:3260 refused"));

        Assert.Equal(ExitCodes.Transport, code);
        Assert.Equal("portal 192.0.2.1:3260 refused", message);
    }

    [Theory]
    [InlineData("cannot connect to portal 192.0.2.1:3260: no answer within 15 s")]
    [InlineData("cannot connect to portal 192.0.2.1:3260: connection refused")]
    public void Another_io_error_that_reads_like_a_connect_failure_is_exit_1(string text)
    {
        var (message, code) = ErrorReporter.Classify(new IOException(text));

        Assert.Equal(ExitCodes.Error, code);
        Assert.Equal(text, message);
    }
}
