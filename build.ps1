#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Build, test, benchmark and publish LZN.Native.
.DESCRIPTION
    Runs under PowerShell 7 installed as a local dotnet tool, so a machine with only the .NET SDK can use it:
        dotnet tool restore
        dotnet pwsh ./build.ps1 test
.EXAMPLE
    dotnet pwsh ./build.ps1 test -Filter "FullyQualifiedName~Zones"
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -- --filter "*Gemm*"
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'bench', 'publish', 'device-check', 'selftest', 'clean')]
    [string] $Target = 'build',

    [string] $Configuration = 'Release',

    # dotnet test --filter expression (test target only).
    [string] $Filter = '',

    # Runtime identifier for publish and device-check.
    [string] $Runtime = 'linux-x64',

    # Extra arguments passed through to the tool behind the target (after --).
    [Parameter(ValueFromRemainingArguments = $true)]
    [string[]] $Rest = @()
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
$solution = Join-Path $root 'LZN.Native.sln'
$artifacts = Join-Path $root 'artifacts'

function Invoke-Native([string] $what, [scriptblock] $command) {
    & $command
    if ($LASTEXITCODE -ne 0) { throw "$what failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    Invoke-Native 'build' { dotnet build $solution -c $Configuration --nologo }
}

# Runs the whole suite, writes a TRX file and prints the plain 'N passed, N failed, N skipped' line from it.
function Invoke-Test {
    Invoke-Build
    $results = Join-Path $artifacts 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    $arguments = @('test', $solution, '-c', $Configuration, '--no-build', '--nologo',
        '--results-directory', $results, '--logger', 'trx;LogFileName=tests.trx', '--logger', 'console;verbosity=normal')
    if ($Filter) { $arguments += @('--filter', $Filter) }
    & dotnet @arguments
    $testExit = $LASTEXITCODE
    $trx = Get-ChildItem -Path $results -Filter '*.trx' -Recurse | Select-Object -First 1
    if (-not $trx) { throw "dotnet test wrote no TRX file (exit code $testExit)" }
    [xml] $report = Get-Content -Raw $trx.FullName
    $counters = $report.TestRun.ResultSummary.Counters
    $failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
    # Ignored tests appear as results with outcome NotExecuted; the notExecuted counter stays 0.
    $skipped = [int]$counters.total - [int]$counters.executed
    Write-Host "$($counters.passed) passed, $failed failed, $skipped skipped"
    if ($testExit -ne 0 -or $failed -ne 0) { exit 1 }
}

switch ($Target) {
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'bench' {
        $benchArgs = if ($Rest.Count -gt 0) { $Rest } else { @('--filter', '*') }
        Invoke-Native 'bench' { dotnet run -c Release --project (Join-Path $root 'bench/LZN.Benchmarks') -- @benchArgs }
    }
    'publish' {
        $out = Join-Path $root "publish/$Runtime"
        Invoke-Native 'publish' {
            dotnet publish (Join-Path $root 'src/LZN.Cli') -c Release -r $Runtime --self-contained `
                -p:PublishTrimmed=true -p:PublishSingleFile=true -o $out --nologo
        }
        Write-Host "published: $out"
    }
    'device-check' { Invoke-Native 'device-check' { bash (Join-Path $root 'tools/device-check.sh') @Rest } }
    'selftest' {
        Invoke-Native 'selftest' { dotnet run -c $Configuration --project (Join-Path $root 'src/LZN.Cli') -- selftest @Rest }
    }
    'clean' {
        foreach ($folder in @('artifacts', 'publish')) {
            $path = Join-Path $root $folder
            if (Test-Path $path) { Remove-Item -Recurse -Force $path }
        }
        Invoke-Native 'clean' { dotnet clean $solution -c $Configuration --nologo }
    }
}
