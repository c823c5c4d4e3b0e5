using System.Net;
using System.Net.Sockets;

namespace LZN.Tests.Data;

/// <summary>A tiny HTTP server on 127.0.0.1 serving the files of one folder (404 for anything else).</summary>
internal sealed class LoopbackFileServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string _folder;
    private readonly Task _loop;
    private int _requests;

    public LoopbackFileServer(string folder)
    {
        _folder = folder;
        int port = FreePort();
        BaseUri = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(BaseUri.ToString());
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri BaseUri { get; }

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>How long the server waits before answering a request for a file whose name starts with "slow".</summary>
    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(5);

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            Interlocked.Increment(ref _requests);
            try
            {
                await AnswerAsync(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
            {
                // The client gave up (a timeout test) or the server is stopping; serve the next request.
            }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        string name = Path.GetFileName(context.Request.Url!.AbsolutePath);
        string path = Path.Combine(_folder, name);
        if (name.StartsWith("slow", StringComparison.Ordinal))
            await Task.Delay(SlowDelay);
        using var response = context.Response;
        if (File.Exists(path))
        {
            byte[] bytes = await File.ReadAllBytesAsync(path);
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes);
        }
        else
        {
            response.StatusCode = 404;
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
