// Starts `stylus lsp` for .sdprompt files. All language features live in the server.
import { ExtensionContext, workspace } from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
  const config = workspace.getConfiguration('stylus');
  const command = config.get<string>('path') || 'stylus';
  const serverOptions: ServerOptions = { command, args: ['lsp'] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: 'sdprompt' }],
    // The server also pulls the `stylus` section through workspace/configuration.
    initializationOptions: { stylus: workspace.getConfiguration().get('stylus') },
    synchronize: { configurationSection: 'stylus' },
  };
  client = new LanguageClient('stylus', 'Stylus', serverOptions, clientOptions);
  context.subscriptions.push(client);
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
