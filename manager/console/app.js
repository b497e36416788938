// Entry point: sign-in, navigation and a hash router (#/page/arg). Each page is a function
// (root, {params, signal}) that renders into root; the signal aborts its polling on navigation.
import { api, session } from './api.js'
import { errorBox, field, h, replace } from './dom.js'
import { accessPage } from './pages/access.js'
import { activityPage } from './pages/activity.js'
import { connectorPage, connectorsPage } from './pages/connectors.js'
import { delegatesPage } from './pages/delegates.js'
import { taskPage, tasksPage } from './pages/tasks.js'

const main = document.getElementById('main')
const nav = document.getElementById('nav')
const signOutButton = document.getElementById('sign-out')

const routes = {
  connectors: (params) => (params[0] ? connectorPage : connectorsPage),
  delegates: () => delegatesPage,
  tasks: (params) => (params[0] ? taskPage : tasksPage),
  activity: () => activityPage,
  access: () => accessPage,
}

let current = null

function route() {
  current?.abort()
  current = new AbortController()
  if (!session.key) return showSignIn()
  nav.hidden = false
  signOutButton.hidden = false
  const [name = 'connectors', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  const pick = routes[name]
  if (!pick) {
    location.hash = '#/connectors'
    return
  }
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === name)
  const root = h('div.page', { dataset: { page: name } })
  replace(main, root)
  const signal = current.signal
  Promise.resolve(pick(params)(root, { params, signal })).catch((err) => {
    if (signal.aborted) return
    root.append(errorBox(err))
  })
}

function showSignIn(reason) {
  nav.hidden = true
  signOutButton.hidden = true
  const input = h('input', { type: 'password', name: 'apiKey', autocomplete: 'current-password', required: true, autofocus: true })
  const status = h('div.status')
  const form = h(
    'form.card.sign-in',
    { id: 'sign-in' },
    h('h1', {}, 'Sign in'),
    h('p.muted', {}, 'Enter the manager’s API key (MANAGER_API_KEY). It is kept in this tab’s session storage only.'),
    field('API key', input),
    h('button.primary', { type: 'submit' }, 'Sign in'),
    status,
    reason && errorBox(reason),
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const key = input.value.trim()
    replace(status, 'Checking…')
    try {
      await api('GET', '/delegates', undefined, { key })
      session.signIn(key)
      route()
    } catch (err) {
      replace(status, errorBox(err))
    }
  })
  replace(main, form)
  input.focus()
}

signOutButton.addEventListener('click', () => session.signOut())
window.addEventListener('signed-out', (event) => {
  current?.abort()
  showSignIn(event.detail)
})
window.addEventListener('hashchange', route)
route()
